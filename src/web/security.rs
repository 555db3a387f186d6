//! The Security page: a user's second factors. An authenticator app (TOTP) is set up from a QR
//! code drawn here (or its secret typed), confirmed by one of its codes, and removed with a
//! code or the password; recovery codes come with it, are shown once (and downloadable while
//! shown), and can be made anew. Passkeys have their section too (`passkeys`). The page is in
//! sections, one per kind of factor.

use super::forms::Fields;
use super::passkeys::{PasskeyRow, PasskeySection};
use super::proof::{self, Refusal};
use super::session::TypedSession;
use super::tokens::format_time;
use super::{CurrentUser, Layout, Section, page, see_other};
use crate::app::AppState;
use crate::domain::form::FieldErrors;
use crate::domain::two_factor::{SecondFactorCode, TotpSecret, is_recent};
use crate::error::AppError;
use crate::services::two_factor::{self as factors, Factors};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use qrcode::QrCode;
use qrcode::render::svg;

pub use super::SECURITY_PATH;
/// What authenticator apps list the account under.
const ISSUER: &str = "tokendesk";

/// Whether a signed-in user whom the policy wants to set up a second factor may open `path`
/// before they have: the Security page (and whatever is added under it) and the help.
pub fn open_before_enrolment(path: &str) -> bool {
    path == SECURITY_PATH
        || path.starts_with("/account/security/")
        || path == "/help"
        || path.starts_with("/help/")
}

/// An authenticator app being set up: what the page shows of its secret.
pub struct Enrolment {
    /// The QR code of the `otpauth://` address, as inline SVG.
    pub qr_svg: String,
    /// The secret as one base32 word, for typing in.
    pub secret: String,
}

#[derive(Template)]
#[template(path = "account/security.html")]
struct SecurityPage {
    layout: Layout,
    must_enrol: bool,
    totp_since: Option<String>,
    enrolment: Option<Enrolment>,
    /// An app or a passkey: the recovery codes are there to replace one.
    has_second_factor: bool,
    recovery_codes_left: i64,
    /// Codes just made, shown this time (until the user says they kept them).
    new_codes: Option<Vec<String>>,
    errors: FieldErrors,
    /// The passkeys section (`account/passkeys.html`).
    passkeys: Vec<PasskeyRow>,
    passkey_notice: Option<String>,
}

/// The QR code of `text` as an SVG image for the page, labelled for screen readers.
fn qr_svg(text: &str) -> Result<String, AppError> {
    let code =
        QrCode::new(text.as_bytes()).map_err(|e| AppError::internal("drawing a QR code", e))?;
    let drawn = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = drawn.find("<svg").unwrap_or(0);
    Ok(drawn[start..].replacen(
        "<svg",
        "<svg class=\"qr-code\" role=\"img\" aria-label=\"QR code of the authenticator secret\"",
        1,
    ))
}

impl SecurityPage {
    async fn load(
        req: &HttpRequest,
        current: &CurrentUser,
        session: &TypedSession,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let user_id = current.user.id.clone();
        let Factors {
            totp_enabled_at,
            has_passkey,
            recovery_codes_left,
        } = current
            .read(state, move |conn, _| factors::factors(conn, &user_id))
            .await?;
        let enrolment = match totp_enabled_at {
            Some(_) => {
                session.clear_totp_enrolment();
                None
            }
            None => {
                // The same secret until it is confirmed, so that a reload does not undo a scan.
                let secret = match session.totp_enrolment(&state.master_key) {
                    Some(bytes) => TotpSecret::from_bytes(bytes),
                    None => {
                        let secret = TotpSecret::generate();
                        session.set_totp_enrolment(&state.master_key, secret.expose());
                        secret
                    }
                };
                let label = format!("{} ({})", current.user.email, current.account.name);
                Some(Enrolment {
                    qr_svg: qr_svg(&secret.otpauth_uri(ISSUER, &label))?,
                    secret: secret.base32(),
                })
            }
        };
        let passkeys = PasskeySection::load(req, current, state).await?;
        Ok(Self {
            layout: Layout::new(current, session).in_section(Section::Security),
            must_enrol: current.must_enrol,
            has_second_factor: totp_enabled_at.is_some() || has_passkey,
            totp_since: totp_enabled_at.map(format_time),
            enrolment,
            recovery_codes_left,
            new_codes: fresh_codes(session, state, current),
            errors: FieldErrors::default(),
            passkeys: passkeys.passkeys,
            passkey_notice: passkeys.passkey_notice,
        })
    }
}

#[get("/account/security")]
pub async fn security_page(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let shown = SecurityPage::load(&req, &current, &session, &state).await?;
    page(&shown, StatusCode::OK)
}

/// The page again with a message beside a field.
async fn refused(
    req: &HttpRequest,
    current: &CurrentUser,
    session: &TypedSession,
    state: &AppState,
    refusal: Refusal,
) -> Result<HttpResponse, AppError> {
    let mut shown = SecurityPage::load(req, current, session, state).await?;
    shown.errors = refusal.errors.clone();
    let mut response = page(&shown, refusal.status)?;
    refusal.mark(&mut response);
    Ok(response)
}

/// Confirms the authenticator app being set up with one of its codes: it is on from now, and a
/// fresh set of recovery codes is shown.
#[post("/account/security/totp")]
pub async fn enable_totp(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = Fields(form.into_inner());
    let Some(secret) = session.totp_enrolment(&state.master_key) else {
        // Sent again after it worked, or from a session that never showed the secret.
        session.set_flash("Scan the code shown here, then enter a code from your app.");
        return Ok(see_other(SECURITY_PATH));
    };
    let code = match SecondFactorCode::parse_totp(&fields.text("code")) {
        Ok(code) => code,
        Err(message) => {
            let refusal = Refusal {
                errors: FieldErrors::one("code", message),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                retry_after: None,
            };
            return refused(&req, &current, &session, &state, refusal).await;
        }
    };
    let (user_id, master_key) = (current.user.id.clone(), state.master_key.clone());
    let secret = TotpSecret::from_bytes(secret);
    let enabled = current
        .run(&state, move |conn, by| {
            factors::enable_totp(conn, by, &user_id, &master_key, &secret, &code)
        })
        .await;
    match enabled {
        Ok(codes) => {
            session.clear_totp_enrolment();
            match codes {
                Some(codes) => {
                    let codes: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
                    session.set_recovery_codes(&state.master_key, &codes);
                    session.set_done(
                        "Two-factor sign-in is on. Keep your recovery codes somewhere safe: \
                         each opens your account once if you lose your phone.",
                    );
                }
                // A passkey came first: the recovery codes made then go on working.
                None => session.set_done(
                    "Your authenticator app is on: signing in accepts its codes too. Your \
                     recovery codes are the same as before.",
                ),
            }
            Ok(see_other(SECURITY_PATH))
        }
        Err(AppError::BadRequest(message)) => {
            let refusal = Refusal {
                errors: FieldErrors::one("code", message),
                status: StatusCode::UNPROCESSABLE_ENTITY,
                retry_after: None,
            };
            refused(&req, &current, &session, &state, refusal).await
        }
        Err(e) => Err(e),
    }
}

/// Removes the authenticator app, once the user proves who they are with a code or the
/// password.
#[post("/account/security/totp/remove")]
pub async fn disable_totp(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = Fields(form.into_inner());
    let proved = proof::prove(
        &state,
        &current,
        &fields.text("password"),
        &fields.text("code"),
        ("password", "code"),
    )
    .await?;
    if let Err(refusal) = proved {
        return refused(&req, &current, &session, &state, refusal).await;
    }
    session.set_authenticated_at(current.at);
    let user_id = current.user.id.clone();
    let removed = current
        .run(&state, move |conn, by| {
            factors::disable_totp(conn, by, &user_id)
        })
        .await?;
    match removed {
        None => session.set_flash("There was no authenticator app to remove."),
        Some(true) => session.set_done(
            "Your authenticator app was removed: signing in asks for your passkey or a \
             recovery code after your password.",
        ),
        // The policy wants a second factor: the page offers to set one up again, and nothing
        // else opens until then.
        Some(false) if current.account.policy.require_2fa => {
            session.clear_recovery_codes();
            session.set_flash(
                "Your authenticator app was removed. It was your last second factor, and your \
                 account's policy requires one: set up an app again or add a passkey to \
                 continue.",
            );
        }
        Some(false) => {
            session.clear_recovery_codes();
            session.set_done(
                "Your authenticator app was removed: signing in asks for your password only.",
            );
        }
    }
    Ok(see_other(SECURITY_PATH))
}

/// Makes a new set of recovery codes (a sensitive action: see `sudo`); the old ones stop
/// working.
#[post("/account/security/recovery-codes")]
pub async fn regenerate_recovery_codes(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let (user_id, master_key, at) = (
        current.user.id.clone(),
        state.master_key.clone(),
        current.at,
    );
    let codes = current
        .run(&state, move |conn, _| {
            factors::regenerate_recovery_codes(conn, &user_id, &master_key, at)
        })
        .await?;
    let codes: Vec<String> = codes.iter().map(|c| c.as_str().to_owned()).collect();
    session.set_recovery_codes(&state.master_key, &codes);
    session.set_done("New recovery codes were made; the old ones no longer work.");
    Ok(see_other(SECURITY_PATH))
}

/// The recovery codes just made, while the user proved who they are in the last minutes (as
/// making them asked): after that they are forgotten, so that whoever comes by this session
/// later cannot read them.
fn fresh_codes(
    session: &TypedSession,
    state: &AppState,
    current: &CurrentUser,
) -> Option<Vec<String>> {
    let codes = session.recovery_codes(&state.master_key)?;
    if is_recent(session.authenticated_at(), current.at) {
        Some(codes)
    } else {
        session.clear_recovery_codes();
        None
    }
}

/// The codes just made, as a text file, while the page still shows them.
#[get("/account/security/recovery-codes.txt")]
pub async fn recovery_codes_txt(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let codes = fresh_codes(&session, &state, &current).ok_or(AppError::NotFound)?;
    let body = format!(
        "tokendesk recovery codes for {} ({})\nEach code signs you in once, instead of a code from your authenticator app.\n\n{}\n",
        current.user.email,
        current.account.name,
        codes.join("\n")
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"tokendesk-recovery-codes.txt\"",
        ))
        .body(body))
}

/// The user kept the codes: they are not shown (nor downloadable) again.
#[post("/account/security/recovery-codes/kept")]
pub async fn recovery_codes_kept(
    _current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    session.clear_recovery_codes();
    Ok(see_other(SECURITY_PATH))
}
