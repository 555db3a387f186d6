//! What instances on one database tell each other of the rate limits (`live::rates`): how many
//! requests of each limited key each let through per minute (`rate_counts`), and that they are
//! alive (`rate_instances`).

use super::pool::on_backend;
use super::schema::{rate_counts, rate_instances};
use super::{DbConnection, DbError, database_time};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::upsert::excluded;

/// An instance not heard of for this long is gone; its row is deleted.
const INSTANCES_KEPT_SECONDS: u32 = 3600;

#[derive(QueryableByName)]
struct Instance {
    #[diesel(sql_type = Text)]
    instance: String,
}

/// Says `instance` is alive now; the instances heard of in the last `within` seconds, in order
/// of their ids.
pub fn alive(conn: &mut DbConnection, instance: &str, within: u32) -> Result<Vec<String>, DbError> {
    let now = database_time(conn, 0);
    let since = database_time(conn, -i64::from(within));
    let placeholder = match conn {
        DbConnection::Postgres(_) => "$1",
        DbConnection::Sqlite(_) => "?",
    };
    diesel::sql_query(format!(
        "INSERT INTO rate_instances (instance, seen_at) VALUES ({placeholder}, {now}) \
         ON CONFLICT (instance) DO UPDATE SET seen_at = excluded.seen_at"
    ))
    .bind::<Text, _>(instance)
    .execute(conn)?;
    Ok(diesel::sql_query(format!(
        "SELECT instance FROM rate_instances WHERE seen_at >= {since} ORDER BY instance"
    ))
    .load::<Instance>(conn)?
    .into_iter()
    .map(|row| row.instance)
    .collect())
}

/// How many requests of key `token_id` `instance` let through in `minute` (the count itself,
/// not an increment: writing it again changes nothing).
pub fn write(
    conn: &mut DbConnection,
    token_id: &str,
    minute: i64,
    instance: &str,
    requests: u32,
) -> Result<(), DbError> {
    let row = (
        rate_counts::token_id.eq(token_id),
        rate_counts::minute.eq(minute),
        rate_counts::instance.eq(instance),
        rate_counts::requests.eq(i32::try_from(requests).unwrap_or(i32::MAX)),
    );
    on_backend!(&mut *conn, |c| diesel::insert_into(rate_counts::table)
        .values(row)
        .on_conflict((
            rate_counts::token_id,
            rate_counts::minute,
            rate_counts::instance,
        ))
        .do_update()
        .set(rate_counts::requests.eq(excluded(rate_counts::requests)))
        .execute(c))?;
    Ok(())
}

/// The counts of the other instances for `token_ids` since minute `from`: (key, minute, count).
pub fn others(
    conn: &mut DbConnection,
    instance: &str,
    token_ids: &[&str],
    from: i64,
) -> Result<Vec<(String, i64, u32)>, DbError> {
    let rows: Vec<(String, i64, i32)> = rate_counts::table
        .filter(rate_counts::minute.ge(from))
        .filter(rate_counts::instance.ne(instance))
        .filter(rate_counts::token_id.eq_any(token_ids))
        .select((
            rate_counts::token_id,
            rate_counts::minute,
            rate_counts::requests,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, minute, requests)| (id, minute, u32::try_from(requests).unwrap_or(0)))
        .collect())
}

/// Says `instance` is gone, so that the others take its share at once.
pub fn leave(conn: &mut DbConnection, instance: &str) -> Result<(), DbError> {
    diesel::delete(rate_instances::table.find(instance)).execute(conn)?;
    Ok(())
}

/// Deletes the counts of minutes before `minute` and the instances long gone.
pub fn prune(conn: &mut DbConnection, minute: i64) -> Result<usize, DbError> {
    let counts =
        diesel::delete(rate_counts::table.filter(rate_counts::minute.lt(minute))).execute(conn)?;
    let gone = database_time(conn, -i64::from(INSTANCES_KEPT_SECONDS));
    let instances = diesel::sql_query(format!("DELETE FROM rate_instances WHERE seen_at < {gone}"))
        .execute(conn)?;
    Ok(counts + instances)
}
