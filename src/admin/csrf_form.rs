//! `CsrfForm<T>`: a console form whose CSRF token has been checked against
//! the browser's — the one place every state-changing console POST checks it.
//! A mismatch is a 403 (the console's "form expired" page), a form that does
//! not parse the console's error page for its status; the handler never runs.

use rocket::data::{self, Data, FromData};
use rocket::form::{Form, FromForm};
use rocket::http::Status;
use rocket::Request;

use super::csrf;

/// A form that carries the console's CSRF token.
pub trait HasCsrf {
    fn csrf_token(&self) -> &str;
}

pub struct CsrfForm<T>(pub T);

#[rocket::async_trait]
impl<'r, T> FromData<'r> for CsrfForm<T>
where
    T: FromForm<'r> + HasCsrf + Send + 'r,
{
    type Error = ();

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let form = match Form::<T>::from_data(req, data).await {
            data::Outcome::Success(form) => form.into_inner(),
            data::Outcome::Error((status, _)) => return data::Outcome::Error((status, ())),
            data::Outcome::Forward((data, status)) => {
                return data::Outcome::Forward((data, status))
            }
        };
        if csrf::check(req, form.csrf_token()) {
            data::Outcome::Success(CsrfForm(form))
        } else {
            data::Outcome::Error((Status::Forbidden, ()))
        }
    }
}
