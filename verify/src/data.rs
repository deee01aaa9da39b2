//! The `full` level (being written).

use crate::collection::{ChainState, Ctx};
use crate::report::Progress;

pub(crate) fn check_chain(ctx: &Ctx<'_>, c: &mut ChainState, progress: &mut dyn FnMut(Progress)) {
    let _ = (ctx, c, progress);
}
