//! Editing a token's properties, expiry, allowed networks, rate limit and permissions in one
//! form, with the wizard's validation.

use super::wizard::{approval_of, policy_note};
use super::{SelectOption, token_id};
use crate::app::AppState;
use crate::db::tokens::Token;
use crate::domain::form::{FieldErrors, capitalised};
use crate::domain::lifecycle::{AllowedNetworks, ExpiryInput, RateLimit};
use crate::domain::module::ModuleSet;
use crate::domain::policy::Breach;
use crate::domain::token_form::{GeneralInput, PermissionsInput};
use crate::error::AppError;
use crate::services::ServiceError;
use crate::services::tokens::{self as token_service, ModuleChange, TokenEdit};
use crate::web::forms::{Fields, ModuleChoice, expiry_choices, module_choices};
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

/// The form's values as typed (or as stored, to begin with).
struct EditForm {
    general: GeneralInput,
    expiry: ExpiryInput,
    allowed_networks: String,
    rate_limit: String,
    permissions: PermissionsInput,
    reason: String,
}

impl EditForm {
    fn of(token: &Token, granted: &ModuleSet) -> Self {
        Self {
            general: GeneralInput {
                name: token.name.clone(),
                external_id: token.external_id.clone(),
                description: token.description.clone(),
            },
            expiry: ExpiryInput::of(token.expires_at),
            allowed_networks: token.allowed_networks.lines(),
            rate_limit: RateLimit::text(token.rate_limit),
            permissions: PermissionsInput::from_set(granted),
            reason: String::new(),
        }
    }

    fn sent(fields: &Fields) -> Self {
        Self {
            general: fields.general(),
            expiry: fields.expiry(),
            allowed_networks: fields.text("allowed_networks"),
            rate_limit: fields.text("rate_limit"),
            permissions: fields.permissions(),
            reason: fields.text("reason").chars().take(500).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "tokens/edit.html")]
struct EditPage {
    layout: Layout,
    token_id: String,
    token_name: String,
    values: GeneralInput,
    expiry: ExpiryInput,
    expiry_choices: Vec<SelectOption>,
    allowed_networks: String,
    rate_limit: String,
    extension_title: &'static str,
    fixed: bool,
    all_modules: bool,
    modules: Vec<ModuleChoice>,
    policy_note: Option<String>,
    default_rate_limit: Option<u32>,
    networks_required: bool,
    approval: Option<String>,
    reason: String,
    errors: FieldErrors,
}

impl EditPage {
    fn new(
        current: &CurrentUser,
        session: &TypedSession,
        token: &Token,
        form: EditForm,
        errors: FieldErrors,
    ) -> Self {
        let fixed = token.extension.has_fixed_permissions();
        Self {
            layout: Layout::new(current, session),
            token_id: token.id.to_string(),
            token_name: token.name.clone(),
            values: form.general,
            expiry_choices: expiry_choices(&form.expiry),
            expiry: form.expiry,
            allowed_networks: form.allowed_networks,
            rate_limit: form.rate_limit,
            extension_title: token.extension.title(),
            fixed,
            all_modules: fixed || form.permissions.all_modules,
            modules: module_choices(&form.permissions),
            policy_note: policy_note(&current.account.policy),
            default_rate_limit: None,
            networks_required: current.account.policy.require_allowed_networks,
            approval: approval_of(current),
            reason: form.reason,
            errors,
        }
    }
}

#[get("/integrations/tokens/{id}/edit")]
pub async fn edit_form(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let (token, granted) = current
        .read(&state, move |conn, by| {
            Token::find_with_permissions(conn, &by.account_id, &id)
        })
        .await?;
    current.require_manage(&token.owner)?;
    let form = EditForm::of(&token, &granted);
    page(
        &EditPage::new(&current, &session, &token, form, FieldErrors::default()),
        StatusCode::OK,
    )
}

#[post("/integrations/tokens/{id}/edit")]
pub async fn edit(
    current: CurrentUser,
    session: TypedSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let id = token_id(&path)?;
    let sent = EditForm::sent(&Fields(form.into_inner()));
    let lookup = id.clone();
    let token = current
        .read(&state, move |conn, by| {
            Token::find(conn, &by.account_id, &lookup)
        })
        .await?;
    current.require_manage(&token.owner)?;

    let mut errors = FieldErrors::default();
    let general = sent.general.parse().map_err(|e| errors.merge(e)).ok();
    let expires_at = sent
        .expiry
        .parse(current.at, token.expires_at)
        .map_err(|e| errors.merge(e))
        .ok();
    let networks = AllowedNetworks::parse_lines(&sent.allowed_networks)
        .map_err(|e| errors.merge(e))
        .ok();
    let rate_limit = RateLimit::parse_text(&sent.rate_limit)
        .map_err(|e| errors.merge(e))
        .ok();
    let modules = sent
        .permissions
        .parse(token.extension)
        .map_err(|e| errors.merge(e))
        .ok();
    // Held to the account's policy here too, so that each message stands beside its field.
    let policy = &current.account.policy;
    if let Some(expires_at) = expires_at {
        let breach = if expires_at == token.expires_at {
            policy
                .breach(token.key_terms())
                .filter(|b| *b != Breach::NoNetworks)
        } else {
            None
        };
        let problem = match breach {
            Some(breach) => Err(format!(
                "This token breaks the account's policy ({}): choose an expiry within it.",
                breach.describe()
            )),
            None if expires_at != token.expires_at => policy.check_expiry(expires_at, current.at),
            None => Ok(()),
        };
        if let Err(message) = problem {
            errors.add("expires", message);
        }
    }
    if networks.as_ref().is_some_and(AllowedNetworks::is_empty) && policy.require_allowed_networks {
        errors.add("allowed_networks", token_service::NETWORKS_REQUIRED);
    }
    let (Some(general), Some(expires_at), Some(networks), Some(rate_limit), Some(modules)) =
        (general, expires_at, networks, rate_limit, modules)
    else {
        let form = EditPage::new(&current, &session, &token, sent, errors);
        return page(&form, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let reason = sent.reason.clone();
    let updated = current
        .run(&state, move |conn, by| {
            let edit = TokenEdit {
                expires_at: Some(expires_at),
                allowed_networks: Some(&networks),
                rate_limit: Some(rate_limit),
                modules: Some(ModuleChange::Set(&modules)),
                reason: Some(&reason),
                ..TokenEdit::general(&general)
            };
            match token_service::update(conn, by, &id, &edit) {
                Ok(edited) => Ok(Ok(edited)),
                Err(
                    ServiceError::Invalid { field, message }
                    | ServiceError::Rule { field, message },
                ) => Ok(Err((field, message))),
                Err(refused) => Err(refused),
            }
        })
        .await?;
    let updated = match updated {
        Ok(updated) => updated,
        Err((field, message)) => {
            let field = match field {
                "expiration_date" => "expires",
                other => other,
            };
            let errors = FieldErrors::one(field, capitalised(&message));
            let form = EditPage::new(&current, &session, &token, sent, errors);
            return page(&form, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let mut saved = format!("Token “{}” saved.", updated.token.name);
    if updated.awaiting_approval {
        saved.push_str(" The permissions added wait for an admin's approval; the others stay in force meanwhile.");
    }
    session.set_done(&saved);
    Ok(see_other(&format!(
        "/integrations/tokens/{}",
        updated.token.id
    )))
}
