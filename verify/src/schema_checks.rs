//! The `schema` level (being written).

use crate::collection::{ChainState, Ctx};

pub(crate) fn check_chain(ctx: &Ctx<'_>, c: &mut ChainState) {
    let _ = (ctx, c);
}
