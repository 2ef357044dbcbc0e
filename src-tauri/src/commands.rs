//! The window's commands: one-line adapters over `companion_api::Api`. Every type here is
//! generated into `ui/src/bindings.ts`; every behaviour is tested in `companion-api`.
//! All are `async`, so keychain and network calls never run on the main thread.

use companion_api::{
    ApiError, ClientView, Discovered, NewServer, Route, ServerDetails, ServerView, Settings, Step,
    TestReport,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

use crate::AppState;

type Result<T> = std::result::Result<T, ApiError>;

#[tauri::command]
pub(crate) async fn servers(s: State<'_, AppState>) -> Result<Vec<ServerView>> {
    s.api.servers().await
}

#[tauri::command]
pub(crate) async fn details(s: State<'_, AppState>, name: String) -> Result<ServerDetails> {
    s.api.details(&name).await
}

#[tauri::command]
pub(crate) async fn sign_in(s: State<'_, AppState>, name: String) -> Result<()> {
    s.api.sign_in(&name).await
}

#[tauri::command]
pub(crate) async fn sign_out(s: State<'_, AppState>, name: String) -> Result<()> {
    s.api.sign_out(&name).await
}

#[tauri::command]
pub(crate) async fn discover(
    s: State<'_, AppState>,
    url: String,
    on_step: Channel<Step>,
) -> Result<Discovered> {
    s.api.discover(&url, move |st| drop(on_step.send(st))).await
}

#[tauri::command]
pub(crate) async fn add_server(s: State<'_, AppState>, server: NewServer) -> Result<()> {
    s.api.add_server(&server)
}

#[tauri::command]
pub(crate) async fn update_server(
    s: State<'_, AppState>,
    name: String,
    server: NewServer,
) -> Result<()> {
    s.api.update_server(&name, &server)
}

#[tauri::command]
pub(crate) async fn remove_server(s: State<'_, AppState>, name: String) -> Result<()> {
    s.api.remove_server(&name).await
}

#[tauri::command]
pub(crate) async fn test_connection(
    s: State<'_, AppState>,
    name: String,
    on_step: Channel<Step>,
) -> Result<TestReport> {
    s.api
        .test_connection(&name, move |st| drop(on_step.send(st)))
        .await
}

#[tauri::command]
pub(crate) async fn settings(s: State<'_, AppState>) -> Result<Settings> {
    Ok(s.api.settings())
}

#[tauri::command]
pub(crate) async fn save_settings(s: State<'_, AppState>, settings: Settings) -> Result<()> {
    crate::apply_settings(&s, &settings)
}

#[tauri::command]
pub(crate) async fn clients(s: State<'_, AppState>) -> Result<Vec<ClientView>> {
    s.api.clients()
}

#[tauri::command]
pub(crate) async fn install_client(s: State<'_, AppState>, client: String) -> Result<String> {
    s.api.install_client(&client)
}

#[tauri::command]
pub(crate) async fn uninstall_client(s: State<'_, AppState>, client: String) -> Result<String> {
    s.api.uninstall_client(&client)
}

#[tauri::command]
pub(crate) async fn take_route(s: State<'_, AppState>) -> Result<Route> {
    Ok(s.take_route())
}

#[tauri::command]
pub(crate) async fn copy_client_config(
    app: AppHandle,
    s: State<'_, AppState>,
    name: String,
) -> Result<()> {
    crate::copy_text(&app, &s.api.client_config(&name))
}
