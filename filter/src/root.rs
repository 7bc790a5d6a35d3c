//! The root context: parses the plugin configuration once per `on_configure` and hands each stream
//! an `Rc` of the result.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use crate::hostcalls::{self, LogLevel};
use crate::http::Http;
use crate::metrics::Metrics;
use crate::settings::Settings;

/// The plugin's root context.
#[derive(Default)]
pub(crate) struct Root {
    settings: Option<Rc<Settings>>,
    metrics: Rc<Metrics>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let raw = match hostcalls::plugin_configuration(plugin_configuration_size) {
            Ok(raw) => raw,
            Err(status) => {
                hostcalls::log(
                    LogLevel::Error,
                    &format!(
                        "trueip: cannot read the plugin configuration (status {})",
                        status.0
                    ),
                );
                self.metrics.count("trueip.", "config_error");
                return false;
            }
        };
        match Settings::parse(&raw) {
            Ok(settings) => {
                self.settings = Some(Rc::new(settings));
                true
            }
            Err(e) => {
                hostcalls::log(
                    LogLevel::Error,
                    &format!("trueip: invalid plugin configuration: {e}"),
                );
                self.metrics.count("trueip.", "config_error");
                false
            }
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Always Some: the SDK panics on None. Without settings (never configured) the stream passes.
        Some(Box::new(Http::new(
            self.settings.clone(),
            Rc::clone(&self.metrics),
        )))
    }
}
