//! `system.users`: `CREATE USER` and PBKDF2 password hashes.

use vouch_format::keys::Datum;
use vouch_format::schema::USERS_TABLE_ID;

use super::descriptors::Cluster;
use crate::{Error, Result};

/// PBKDF2 iterations for user passwords.
const PASSWORD_ITERATIONS: u32 = 10_000;

/// Hashes a password for `system.users`: `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
pub fn hash_password(password: &str, salt: &[u8; 16]) -> Vec<u8> {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt, PASSWORD_ITERATIONS, &mut out);
    format!(
        "pbkdf2-sha256${PASSWORD_ITERATIONS}${}${}",
        hex::encode(salt),
        hex::encode(out)
    )
    .into_bytes()
}

/// Checks a password against a stored hash.
pub fn check_password(password: &str, stored: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(stored) else {
        return false;
    };
    let parts: Vec<&str> = text.split('$').collect();
    let [alg, iters, salt, hash] = parts.as_slice() else {
        return false;
    };
    if *alg != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(iters), Ok(salt), Ok(hash)) =
        (iters.parse::<u32>(), hex::decode(salt), hex::decode(hash))
    else {
        return false;
    };
    if iters == 0 || iters > 10_000_000 || hash.len() != 32 {
        return false;
    }
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, iters, &mut out);
    out.as_slice() == hash.as_slice()
}

impl Cluster {
    /// `CREATE USER name [WITH PASSWORD …]`.
    pub fn create_user(&self, name: &str, password: Option<&str>, salt: [u8; 16]) -> Result<()> {
        let users = self.descriptor(USERS_TABLE_ID, self.now())?;
        let mut tx = self.txn();
        if tx.get_row(&users, &[Datum::String(name.into())])?.is_some() {
            return Err(Error::DuplicateObject(format!(
                "a role/user named {name} already exists"
            )));
        }
        let hashed = password.map_or(Datum::Null, |p| Datum::Bytes(hash_password(p, &salt)));
        tx.insert(
            &users,
            &[vec![Datum::String(name.into()), hashed, Datum::Bool(false)]],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// `DROP USER name`: its row of `system.users`.
    pub fn drop_user(&self, name: &str) -> Result<()> {
        let users = self.descriptor(USERS_TABLE_ID, self.now())?;
        let mut tx = self.txn();
        if !tx.delete(&users, &[Datum::String(name.into())])? {
            return Err(Error::UndefinedObject(format!(
                "role/user \"{name}\" does not exist"
            )));
        }
        tx.commit()?;
        Ok(())
    }
}
