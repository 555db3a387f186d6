//! Editing a token's properties and permissions in one form, with the wizard's validation.

use super::token_id;
use crate::db::tokens::{ModuleChange, Token};
use crate::domain::form::FieldErrors;
use crate::domain::token_form::{GeneralInput, PermissionsInput};
use crate::error::AppError;
use crate::startup::AppState;
use crate::web::forms::{Fields, ModuleChoice, module_choices};
use crate::web::session::TypedSession;
use crate::web::{CurrentUser, Layout, page, see_other};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, web};
use askama::Template;

#[derive(Template)]
#[template(path = "tokens/edit.html")]
struct EditPage {
    layout: Layout,
    token_id: String,
    token_name: String,
    values: GeneralInput,
    extension_title: &'static str,
    fixed: bool,
    all_modules: bool,
    modules: Vec<ModuleChoice>,
    errors: FieldErrors,
}

impl EditPage {
    fn new(
        current: &CurrentUser,
        session: &TypedSession,
        token: &Token,
        values: GeneralInput,
        permissions: &PermissionsInput,
        errors: FieldErrors,
    ) -> Self {
        let fixed = token.extension.has_fixed_permissions();
        Self {
            layout: Layout::new(current, session),
            token_id: token.id.to_string(),
            token_name: token.name.clone(),
            values,
            extension_title: token.extension.title(),
            fixed,
            all_modules: fixed || permissions.all_modules,
            modules: module_choices(permissions),
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
        .run(&state, move |conn, by| {
            Token::find_with_permissions(conn, &by.account_id, &id)
        })
        .await?;
    current.require_manage(&token.created.by)?;
    let values = GeneralInput {
        name: token.name.clone(),
        external_id: token.external_id.clone(),
        description: token.description.clone(),
    };
    let permissions = PermissionsInput::from_set(&granted);
    let form = EditPage::new(
        &current,
        &session,
        &token,
        values,
        &permissions,
        FieldErrors::default(),
    );
    page(&form, StatusCode::OK)
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
    let fields = Fields(form.into_inner());
    let values = fields.general();
    let permissions = fields.permissions();
    let lookup = id.clone();
    let token = current
        .run(&state, move |conn, by| {
            Token::find(conn, &by.account_id, &lookup)
        })
        .await?;
    current.require_manage(&token.created.by)?;

    let general = values.parse();
    let modules = permissions.parse(token.extension);
    let (general, modules) = match (general, modules) {
        (Ok(general), Ok(modules)) => (general, modules),
        (general, modules) => {
            let mut errors = FieldErrors::default();
            if let Err(e) = general {
                errors.merge(e);
            }
            if let Err(e) = modules {
                errors.merge(e);
            }
            let form = EditPage::new(&current, &session, &token, values, &permissions, errors);
            return page(&form, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let updated = current
        .run(&state, move |conn, by| {
            Token::update(
                conn,
                by,
                &id,
                Some(&general),
                Some(ModuleChange::Set(&modules)),
            )
        })
        .await?;
    session.set_flash(&format!("Token “{}” saved.", updated.name));
    Ok(see_other(&format!("/integrations/tokens/{}", updated.id)))
}
