//! The create-token wizard: General → Extension → Permissions → Summary. The draft lives in the
//! session; each step opens only when the ones before it are valid, and the Create button makes
//! the token exactly once per draft (the draft id is a unique creation key in the database).

use super::SelectOption;
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::domain::extension::Extension;
use crate::domain::form::{FieldErrors, capitalised};
use crate::domain::ids::TokenId;
use crate::domain::lifecycle::{AllowedNetworks, ExpiryInput, RateLimit};
use crate::domain::module::{MODULES, ModuleSet};
use crate::domain::policy::AccountPolicy;
use crate::domain::token::StoredStatus;
use crate::domain::token_form::{General, GeneralInput, PermissionsInput, parse_extension};
use crate::error::AppError;
use crate::services::ServiceError;
use crate::services::tokens::{self as token_service, NewToken};
use crate::web::forms::{Fields, ModuleChoice, expiry_choices, module_choices};
use crate::web::session::TypedSession;
use crate::web::{ALREADY_DONE, CurrentUser, Layout, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use rand::RngCore;
use serde::{Deserialize, Serialize};

const GENERAL: &str = "/integrations/tokens/new/general";
const EXTENSION: &str = "/integrations/tokens/new/extension";
const PERMISSIONS: &str = "/integrations/tokens/new/permissions";
const SUMMARY: &str = "/integrations/tokens/new/summary";

/// What the session holds between steps. Read from the session and written back within one
/// request, never kept in a collection: its size does not matter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
enum Wizard {
    Draft(Draft),
    Created { token_id: String },
}

/// The values typed so far, kept as typed so that Back and errors show them again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Draft {
    /// Unique per draft; becomes the token's creation key.
    id: String,
    general: GeneralInput,
    #[serde(default)]
    expiry: ExpiryInput,
    /// Requests per minute as typed; empty for no limit.
    #[serde(default)]
    rate_limit: String,
    /// Allowed networks as typed (asked for when the account's policy requires them).
    #[serde(default)]
    allowed_networks: String,
    extension: Option<String>,
    permissions: PermissionsInput,
}

/// The first two steps, parsed.
struct Completed {
    general: General,
    expires_at: Option<NaiveDateTime>,
    rate_limit: Option<RateLimit>,
    allowed_networks: AllowedNetworks,
    extension: Extension,
}

impl Draft {
    fn new() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self {
            id: URL_SAFE_NO_PAD.encode(bytes),
            general: GeneralInput::default(),
            expiry: ExpiryInput::default(),
            rate_limit: String::new(),
            allowed_networks: String::new(),
            extension: None,
            permissions: PermissionsInput::default(),
        }
    }

    /// The first two steps as parsed, or the earliest step that is not valid yet (where the
    /// person must go first).
    fn complete(&self, now: NaiveDateTime) -> Result<Completed, &'static str> {
        let general = self.general.parse().map_err(|_| GENERAL)?;
        // "In 30 days" counts from when the token is made; a date may have passed meanwhile.
        let expires_at = self.expiry.parse(now, None).map_err(|_| GENERAL)?;
        let rate_limit = RateLimit::parse_text(&self.rate_limit).map_err(|_| GENERAL)?;
        let allowed_networks =
            AllowedNetworks::parse_lines(&self.allowed_networks).map_err(|_| GENERAL)?;
        let extension = parse_extension(self.extension.as_deref()).map_err(|_| EXTENSION)?;
        Ok(Completed {
            general,
            expires_at,
            rate_limit,
            allowed_networks,
            extension,
        })
    }
}

/// The current draft, or a fresh one when there is none or the last one was created.
fn draft_of(session: &TypedSession) -> Draft {
    match session.wizard::<Wizard>() {
        Some(Wizard::Draft(draft)) => draft,
        previous => {
            // A new wizard: the key the last one's Summary showed is not kept any longer.
            if matches!(previous, Some(Wizard::Created { .. })) {
                session.forget_secret();
            }
            let draft = Draft::new();
            session.set_wizard(&Wizard::Draft(draft.clone()));
            draft
        }
    }
}

/// Which of the four steps is shown, for the step indicator.
pub struct Steps {
    pub current: u8,
}

pub struct StepView {
    pub number: u8,
    pub label: &'static str,
    /// `done`, `current` or `todo`.
    pub state: &'static str,
}

impl Steps {
    pub fn all(&self) -> Vec<StepView> {
        ["General", "Extension", "Permissions", "Summary"]
            .into_iter()
            .zip(1u8..)
            .map(|(label, number)| StepView {
                number,
                label,
                state: match number.cmp(&self.current) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => "current",
                    std::cmp::Ordering::Greater => "todo",
                },
            })
            .collect()
    }
}

#[get("/integrations/tokens/new")]
pub async fn start(
    _current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> HttpResponse {
    let draft = draft_of(&session);
    see_other(
        draft
            .complete(state.clock.now())
            .err()
            .unwrap_or(PERMISSIONS),
    )
}

#[derive(Template)]
#[template(path = "tokens/wizard/general.html")]
struct GeneralPage {
    layout: Layout,
    steps: Steps,
    values: GeneralInput,
    expiry: ExpiryInput,
    expiry_choices: Vec<SelectOption>,
    rate_limit: String,
    allowed_networks: String,
    /// What the account's policy asks of an expiry, said beside it.
    policy_note: Option<String>,
    default_rate_limit: Option<u32>,
    networks_required: bool,
    errors: FieldErrors,
}

/// The General step's fields, as typed.
struct GeneralStep {
    general: GeneralInput,
    expiry: ExpiryInput,
    rate_limit: String,
    allowed_networks: String,
}

/// What the account's policy asks of an expiry, in a sentence for beside the field.
pub fn policy_note(policy: &AccountPolicy) -> Option<String> {
    match (policy.max_lifetime_days, policy.require_expiry) {
        (Some(days), _) => Some(format!(
            "The account's policy: a key expires within {days} days."
        )),
        (None, true) => Some("The account's policy: every key must expire.".to_owned()),
        (None, false) => None,
    }
}

impl GeneralPage {
    fn new(
        current: &CurrentUser,
        session: &TypedSession,
        typed: GeneralStep,
        errors: FieldErrors,
    ) -> Self {
        Self {
            layout: Layout::new(current, session),
            steps: Steps { current: 1 },
            values: typed.general,
            expiry_choices: expiry_choices(&typed.expiry),
            expiry: typed.expiry,
            rate_limit: typed.rate_limit,
            allowed_networks: typed.allowed_networks,
            policy_note: policy_note(&current.account.policy),
            default_rate_limit: current.account.policy.default_rate_limit.map(|r| r.get()),
            networks_required: current.account.policy.require_allowed_networks,
            errors,
        }
    }
}

#[get("/integrations/tokens/new/general")]
pub async fn general_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let draft = draft_of(&session);
    let typed = GeneralStep {
        general: draft.general,
        expiry: draft.expiry,
        rate_limit: draft.rate_limit,
        allowed_networks: draft.allowed_networks,
    };
    let step = GeneralPage::new(&current, &session, typed, FieldErrors::default());
    page(&step, StatusCode::OK)
}

#[post("/integrations/tokens/new/general")]
pub async fn save_general(
    current: CurrentUser,
    session: TypedSession,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = Fields(form.into_inner());
    let policy = &current.account.policy;
    let typed = GeneralStep {
        general: fields.general(),
        expiry: fields.expiry(),
        rate_limit: fields.text("rate_limit"),
        allowed_networks: if policy.require_allowed_networks {
            fields.text("allowed_networks")
        } else {
            String::new()
        },
    };
    let mut errors = FieldErrors::default();
    if let Err(e) = typed.general.parse() {
        errors.merge(e);
    }
    match typed.expiry.parse(current.at, None) {
        Err(e) => errors.merge(e),
        Ok(expires_at) => {
            if let Err(message) = policy.check_expiry(expires_at, current.at) {
                errors.add("expires", message);
            }
        }
    }
    if let Err(e) = RateLimit::parse_text(&typed.rate_limit) {
        errors.merge(e);
    }
    match AllowedNetworks::parse_lines(&typed.allowed_networks) {
        Err(e) => errors.merge(e),
        Ok(networks) if networks.is_empty() && policy.require_allowed_networks => {
            errors.add("allowed_networks", token_service::NETWORKS_REQUIRED);
        }
        Ok(_) => {}
    }
    if errors.is_empty() {
        // Only valid values are kept in the draft.
        let mut draft = draft_of(&session);
        draft.general = typed.general;
        draft.expiry = typed.expiry;
        draft.rate_limit = typed.rate_limit;
        draft.allowed_networks = typed.allowed_networks;
        session.set_wizard(&Wizard::Draft(draft));
        return Ok(see_other(EXTENSION));
    }
    page(
        &GeneralPage::new(&current, &session, typed, errors),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

pub struct ExtensionChoice {
    pub name: &'static str,
    pub id: &'static str,
    pub title: &'static str,
    pub explanation: &'static str,
    pub checked: bool,
}

fn extension_choices(selected: Option<&str>) -> Vec<ExtensionChoice> {
    let selected = parse_extension(selected).ok();
    Extension::ALL
        .into_iter()
        .map(|e| ExtensionChoice {
            name: e.name(),
            id: e.id(),
            title: e.title(),
            explanation: e.explanation(),
            checked: selected == Some(e),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "tokens/wizard/extension.html")]
struct ExtensionPage {
    layout: Layout,
    steps: Steps,
    choices: Vec<ExtensionChoice>,
    errors: FieldErrors,
}

#[get("/integrations/tokens/new/extension")]
pub async fn extension_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let draft = draft_of(&session);
    if draft.general.parse().is_err() {
        return Ok(see_other(GENERAL));
    }
    let step = ExtensionPage {
        layout: Layout::new(&current, &session),
        steps: Steps { current: 2 },
        choices: extension_choices(draft.extension.as_deref()),
        errors: FieldErrors::default(),
    };
    page(&step, StatusCode::OK)
}

#[post("/integrations/tokens/new/extension")]
pub async fn save_extension(
    current: CurrentUser,
    session: TypedSession,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = Fields(form.into_inner());
    let mut draft = draft_of(&session);
    if draft.general.parse().is_err() {
        return Ok(see_other(GENERAL));
    }
    let chosen = fields.get("extension");
    let valid = parse_extension(chosen);
    // Kept for Back only when it is one of the four; anything else is not worth a cookie.
    draft.extension = valid.as_ref().ok().map(|e| e.name().to_owned());
    session.set_wizard(&Wizard::Draft(draft.clone()));
    if fields.get("action") == Some("back") {
        return Ok(see_other(GENERAL));
    }
    match valid {
        Ok(_) => Ok(see_other(PERMISSIONS)),
        Err(errors) => page(
            &ExtensionPage {
                layout: Layout::new(&current, &session),
                steps: Steps { current: 2 },
                choices: extension_choices(draft.extension.as_deref()),
                errors,
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

#[derive(Template)]
#[template(path = "tokens/wizard/permissions.html")]
struct PermissionsPage {
    layout: Layout,
    steps: Steps,
    extension_title: &'static str,
    fixed: bool,
    all_modules: bool,
    modules: Vec<ModuleChoice>,
    /// The modules under approval, named, when this user's asking for them waits for an admin.
    approval: Option<String>,
    reason: String,
    errors: FieldErrors,
}

/// The modules the account's policy puts under approval, named, when what `current` asks for
/// waits for an admin (a member's).
pub fn approval_of(current: &CurrentUser) -> Option<String> {
    let policy = &current.account.policy;
    (!(current.user.role == crate::domain::user::Role::Admin)
        && !policy.approval_modules.is_empty())
    .then(|| policy.approval_names())
}

impl PermissionsPage {
    fn new(
        current: &CurrentUser,
        session: &TypedSession,
        extension: Extension,
        input: &PermissionsInput,
        errors: FieldErrors,
    ) -> Self {
        let fixed = extension.has_fixed_permissions();
        let shown = if fixed {
            PermissionsInput {
                modules: Vec::new(),
                all_modules: true,
            }
        } else {
            input.clone()
        };
        Self {
            layout: Layout::new(current, session),
            steps: Steps { current: 3 },
            extension_title: extension.title(),
            fixed,
            all_modules: shown.all_modules,
            modules: module_choices(&shown),
            approval: approval_of(current),
            reason: String::new(),
            errors,
        }
    }

    fn with_reason(self, reason: &str) -> Self {
        Self {
            reason: reason.chars().take(500).collect(),
            ..self
        }
    }
}

#[get("/integrations/tokens/new/permissions")]
pub async fn permissions_form(
    current: CurrentUser,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    if let Some(Wizard::Created { .. }) = session.wizard::<Wizard>() {
        // Back after Create: the token exists; show it rather than a form that would look unsent.
        return Ok(see_other(SUMMARY));
    }
    let draft = draft_of(&session);
    let extension = match draft.complete(current.at) {
        Ok(done) => done.extension,
        Err(step) => return Ok(see_other(step)),
    };
    page(
        &PermissionsPage::new(
            &current,
            &session,
            extension,
            &draft.permissions,
            FieldErrors::default(),
        ),
        StatusCode::OK,
    )
}

/// The Create button.
#[post("/integrations/tokens/new/permissions")]
pub async fn create(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let fields = Fields(form.into_inner());
    let mut draft = match session.wizard::<Wizard>() {
        Some(Wizard::Draft(draft)) => draft,
        // Sent again after the token was made (a double click, a reload): nothing new is made.
        Some(Wizard::Created { .. }) => {
            session.set_flash(ALREADY_DONE);
            return Ok(see_other(SUMMARY));
        }
        None => return Ok(see_other(GENERAL)),
    };
    let Completed {
        general,
        expires_at,
        rate_limit,
        allowed_networks,
        extension,
    } = match draft.complete(current.at) {
        Ok(done) => done,
        Err(step) => return Ok(see_other(step)),
    };
    let sent = fields.permissions();
    draft.permissions = PermissionsInput {
        // Known, distinct module ids only: the session cookie keeps nothing else.
        modules: MODULES
            .iter()
            .filter(|m| sent.is_checked(m.id))
            .map(|m| m.id.to_owned())
            .collect(),
        all_modules: sent.all_modules,
    };
    session.set_wizard(&Wizard::Draft(draft.clone()));
    if fields.get("action") == Some("back") {
        return Ok(see_other(EXTENSION));
    }
    let reason = fields.text("reason");
    let refused = |errors: FieldErrors| {
        let step = PermissionsPage::new(&current, &session, extension, &draft.permissions, errors)
            .with_reason(&reason);
        page(&step, StatusCode::UNPROCESSABLE_ENTITY)
    };
    let modules = match sent.parse(extension) {
        Ok(modules) => modules,
        Err(errors) => return refused(errors),
    };
    let creation_key = draft.id.clone();
    let master_key = state.master_key.clone();
    let asked = reason.clone();
    let created = current
        .run(&state, move |conn, by| {
            let new = NewToken {
                general: &general,
                extension,
                modules: &modules,
                status: StoredStatus::Active,
                expires_at,
                allowed_networks: &allowed_networks,
                rate_limit,
                creation_key: Some(&creation_key),
                reason: Some(&asked),
            };
            match token_service::create(conn, by, &master_key, &new) {
                Ok((token, key)) => Ok(Ok((token.id, Some(key)))),
                // Sent again while the first was being made (a double click): the same token.
                Err(ServiceError::AlreadyCreated(id)) => Ok(Ok((id, None))),
                Err(ServiceError::Rule {
                    field: "reason",
                    message,
                }) => Ok(Err(message)),
                Err(refused) => Err(refused),
            }
        })
        .await?;
    let (token_id, key) = match created {
        Ok(created) => created,
        Err(message) => return refused(FieldErrors::one("reason", capitalised(&message))),
    };
    match key {
        // Kept sealed for the Summary, which shows it (and may be reloaded) until the wizard
        // is left.
        Some(key) => session.set_secret(&state.master_key, &summary_of(&token_id), &key.expose()),
        None => session.set_flash(ALREADY_DONE),
    }
    session.set_wizard(&Wizard::Created {
        token_id: token_id.to_string(),
    });
    Ok(see_other(SUMMARY))
}

#[derive(Template)]
#[template(path = "tokens/wizard/summary.html")]
struct SummaryPage {
    layout: Layout,
    steps: Steps,
    token: super::TokenView,
    modules: Vec<&'static str>,
    /// The new key, while the wizard is on its Summary; the details page can reveal it later.
    key: Option<String>,
    /// Where this server is reached, for the line that tries the key.
    base_url: String,
}

/// What the new key of token `id` is kept in the session for.
fn summary_of(id: &TokenId) -> String {
    format!("{SUMMARY}/{id}")
}

#[get("/integrations/tokens/new/summary")]
pub async fn summary(
    req: HttpRequest,
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let Some(Wizard::Created { token_id }) = session.wizard::<Wizard>() else {
        return Ok(see_other("/integrations/tokens/new"));
    };
    let id = super::token_id(&token_id)?;
    let key = session.peek_secret(&state.master_key, &summary_of(&id));
    let (token, modules) = current
        .read(&state, move |conn, by| {
            Token::find_with_permissions(conn, &by.account_id, &id)
        })
        .await?;
    let step = SummaryPage {
        layout: Layout::new(&current, &session),
        steps: Steps { current: 4 },
        token: super::TokenView::new(&token, current.at, &current.person()),
        modules: module_names(&modules),
        key,
        base_url: {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        },
    };
    page(&step, StatusCode::OK)
}

pub fn module_names(modules: &ModuleSet) -> Vec<&'static str> {
    if modules.has_all() {
        vec!["All Modules"]
    } else {
        modules.iter().map(|m| m.name).collect()
    }
}

#[post("/integrations/tokens/new/cancel")]
pub async fn cancel(_current: CurrentUser, session: TypedSession) -> HttpResponse {
    if let Some(Wizard::Draft(_)) = session.wizard::<Wizard>() {
        session.set_flash("Token creation cancelled.");
    }
    session.clear_wizard();
    session.forget_secret();
    see_other(super::LIST_PATH)
}
