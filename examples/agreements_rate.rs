//! The work of `GET /public/v1/agreements?limit=10` apart from HTTP and the key, as tokendesk
//! does it: the plain first page (`Agreement::query`, its statement and the decoding of its
//! rows) and the answer made of it (`api::collection`, the JSON written), on connections opened
//! as the server opens them, one per thread, for some seconds. Prints the pages per second.
//! `bench/api.sh` runs it beside the HTTP figures, to tell this share of a request from the
//! rest (HTTP, the key: what `/auth/context` does).
//!
//!   cargo run --release --example agreements_rate -- <database> <account id> [seconds] [threads]

use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokendesk::api::collection;
use tokendesk::api::views::AgreementOut;
use tokendesk::db::accounts::Account;
use tokendesk::db::agreements::Agreement;
use tokendesk::db::pool::{DatabaseUrl, connect_one};
use tokendesk::domain::fields::AgreementField;
use tokendesk::domain::ids::AccountId;
use tokendesk::domain::query::Query;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(database), Some(account)) = (args.first(), args.get(1)) else {
        eprintln!("usage: agreements_rate <database> <account id> [seconds] [threads]");
        return ExitCode::FAILURE;
    };
    let number =
        |at: usize, default: u64| args.get(at).and_then(|n| n.parse().ok()).unwrap_or(default);
    let (seconds, threads) = (number(2, 5), number(3, 2));
    let url = match DatabaseUrl::parse(database) {
        Ok(url) => url,
        Err(error) => {
            eprintln!("the database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(account) = AccountId::parse(account) else {
        eprintln!("the account id {account} cannot be read");
        return ExitCode::FAILURE;
    };
    let query = Query::<AgreementField> {
        limit: 10,
        ..Query::default()
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let runs: Vec<_> = (0..threads)
        .map(|_| {
            let (url, account, query) = (url.clone(), account.clone(), query.clone());
            std::thread::spawn(move || -> Result<u64, String> {
                let mut conn =
                    connect_one(&url, Duration::from_secs(5)).map_err(|e| e.to_string())?;
                let owner = Account::find(&mut conn, &account).map_err(|e| e.to_string())?;
                let mut done = 0;
                while Instant::now() < until {
                    let page =
                        Agreement::query(&mut conn, &account, &query).map_err(|e| e.to_string())?;
                    let items: Vec<AgreementOut> = page
                        .items
                        .iter()
                        .map(|a| AgreementOut::new(a, &owner))
                        .collect();
                    let answer = collection(&items, query.offset, page.total);
                    if items.is_empty() || !answer.status().is_success() {
                        return Err("the account has no agreements".into());
                    }
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        match run.join() {
            Ok(Ok(done)) => total += done,
            Ok(Err(error)) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    println!("{}", total / seconds.max(1));
    ExitCode::SUCCESS
}
