//! What requests share lives in Rocket's managed state as narrow parts, each
//! managed on its own — the configuration (`AppConfig`), the database (`Db`),
//! the `Clock`, the token `Keys`, the `Sealer`, the WeChat client and its
//! `CodeExchanges`, the `RateLimits` — so that a handler or guard asks for
//! exactly what it uses (the token guard knows nothing of WeChat).

use rocket::Request;

use crate::error::ApiError;

/// The managed part `T`, for request guards (handlers take `&State<T>`).
pub fn managed<'r, T: Send + Sync + 'static>(req: &'r Request<'_>) -> Result<&'r T, ApiError> {
    req.rocket()
        .state::<T>()
        .ok_or_else(|| ApiError::internal(format!("{} is not managed", std::any::type_name::<T>())))
}
