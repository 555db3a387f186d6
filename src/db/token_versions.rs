//! An account's *token version*: triggers (migration `token_writes`) add a row for every write
//! to the account's tokens or their permissions, in the writing transaction and whoever writes;
//! the sum of the rows' weights is the version. Writers only insert rows, and merging an
//! account's rows into one keeps their sum. What is kept under a version is `live::counts`'.

use super::pool::write_transaction;
use super::schema::token_writes;
use super::{DbConnection, DbError};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

/// Past this many rows, an account's rows are merged into one.
pub const MERGE_AFTER: i64 = 64;

/// Merges the rows of every account that has many: writes (the usage flush among them) add rows
/// whether or not anyone opens the account's lists. Run beside the requests; how many accounts
/// were merged.
pub fn merge_crowded(conn: &mut DbConnection) -> Result<usize, DbError> {
    let crowded: Vec<String> = token_writes::table
        .group_by(token_writes::account_id)
        .having(diesel::dsl::count_star().gt(MERGE_AFTER))
        .select(token_writes::account_id)
        .load(conn)?;
    for account_id in &crowded {
        merge(conn, account_id)?;
    }
    Ok(crowded.len())
}

/// The account's token version and how many rows make it.
pub fn version(conn: &mut DbConnection, account_id: &str) -> Result<(i64, i64), DbError> {
    Ok(token_writes::table
        .filter(token_writes::account_id.eq(account_id))
        .select((
            sql::<BigInt>("CAST(COALESCE(SUM(weight), 0) AS BIGINT)"),
            sql::<BigInt>("COUNT(*)"),
        ))
        .get_result(conn)?)
}

/// The account's rows replaced by one holding their sum, atomically: readers see the same version
/// before and after, and a row committed meanwhile is either merged with its weight or left.
pub fn merge(conn: &mut DbConnection, account_id: &str) -> Result<(), DbError> {
    use diesel::sql_types::Text;
    match conn {
        // One statement: it sums exactly the rows it deletes.
        DbConnection::Postgres(_) => {
            diesel::sql_query(
                "WITH merged AS (DELETE FROM token_writes WHERE account_id = $1 RETURNING weight) \
                 INSERT INTO token_writes (account_id, weight) \
                 SELECT $1, SUM(weight) FROM merged HAVING COUNT(*) > 0",
            )
            .bind::<Text, _>(account_id)
            .execute(conn)?;
            Ok(())
        }
        // One writer at a time: nothing commits between the three statements.
        DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
            let (weight, rows) = version(conn, account_id)?;
            if rows > 1 {
                diesel::delete(token_writes::table.filter(token_writes::account_id.eq(account_id)))
                    .execute(conn)?;
                diesel::insert_into(token_writes::table)
                    .values((
                        token_writes::account_id.eq(account_id),
                        token_writes::weight.eq(weight),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        }),
    }
}
