pub mod race;
pub mod rest_client;
