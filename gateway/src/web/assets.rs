//! The front end's files, embedded in the binary at build time (`gateway/web/`), each kept
//! plain and gzip-compressed in memory, served with `ETag`s and cache headers:
//!
//! - `/widget.js` (the embed snippet's URL, stable: cached for 5 minutes, then revalidated);
//! - `/demo` (a sample website with the widget) and `/console` (the agent console): HTML,
//!   never cached, with a strict Content-Security-Policy;
//! - `/assets/<name>.<hash>.<ext>`: the console's script and style under content-hashed
//!   names (the console page names them), cached for a year.

use std::sync::LazyLock;

use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};
use warp::http::{header, HeaderMap, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

/// One file as served.
struct Asset {
    /// Its URL path.
    path: String,
    content_type: &'static str,
    cache: &'static str,
    /// Extra headers for HTML pages (CSP and friends).
    page: bool,
    plain: Vec<u8>,
    gzip: Vec<u8>,
    etag: String,
}

/// A year, for content-hashed names.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The widget's stable URL: short caching, so a new release reaches websites within minutes.
const SHORT: &str = "public, max-age=300";
const NO_CACHE: &str = "no-cache";

/// Pages may load only this server's scripts, styles and sockets; nothing inline runs.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                        connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const WIDGET_JS: &[u8] = include_bytes!("../../web/widget.js");
const DEMO_HTML: &str = include_str!("../../web/demo.html");
const CONSOLE_HTML: &str = include_str!("../../web/console.html");
/// The console's ES modules, each after those it imports: a module's `import … from
/// "./name.js"` is rewritten to the hashed name, so a change to a module renames it and
/// every module that imports it.
const CONSOLE_MODULES: [(&str, &str); 3] = [
    ("dom", include_str!("../../web/dom.js")),
    ("admin", include_str!("../../web/admin.js")),
    ("console", include_str!("../../web/console.js")),
];
const CONSOLE_CSS: &[u8] = include_bytes!("../../web/console.css");

fn hash8(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..4])
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

fn asset(path: String, content_type: &'static str, cache: &'static str, page: bool, plain: Vec<u8>) -> Asset {
    let etag = format!("\"{}\"", hash8(&plain));
    Asset { path, content_type, cache, page, gzip: gzip(&plain), plain, etag }
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    const JS: &str = "text/javascript; charset=utf-8";
    const HTML: &str = "text/html; charset=utf-8";
    let css = format!("/assets/console.{}.css", hash8(CONSOLE_CSS));
    let mut console = CONSOLE_HTML.replace("{{console.css}}", &css);
    let mut modules: Vec<(String, String)> = Vec::new(); // (name, hashed file name)
    let mut assets = Vec::new();
    for (name, source) in CONSOLE_MODULES {
        let mut text = source.to_string();
        for (earlier, file) in &modules {
            text = text.replace(&format!("\"./{earlier}.js\""), &format!("\"./{file}\""));
        }
        let file = format!("{name}.{}.js", hash8(text.as_bytes()));
        console = console.replace(&format!("{{{{{name}.js}}}}"), &format!("/assets/{file}"));
        assets.push(asset(format!("/assets/{file}"), JS, IMMUTABLE, false, text.into_bytes()));
        modules.push((name.to_string(), file));
    }
    assets.extend([
        asset("/widget.js".into(), JS, SHORT, false, WIDGET_JS.to_vec()),
        asset("/demo".into(), HTML, NO_CACHE, true, DEMO_HTML.as_bytes().to_vec()),
        asset("/console".into(), HTML, NO_CACHE, true, console.into_bytes()),
        asset(css, "text/css; charset=utf-8", IMMUTABLE, false, CONSOLE_CSS.to_vec()),
    ]);
    assets
});

/// The compressed size of everything the widget loads (for the size budget's test).
pub fn widget_gzip_bytes() -> usize {
    ASSETS.iter().find(|a| a.path == "/widget.js").map_or(0, |a| a.gzip.len())
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let mut response =
        if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(&asset.etag) {
            warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response()
        } else {
            let gzip_ok = headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
            let body = if gzip_ok { asset.gzip.clone() } else { asset.plain.clone() };
            let mut response = warp::reply::Response::new(body.into());
            if gzip_ok {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(asset.cache));
    h.insert(header::ETAG, HeaderValue::from_str(&asset.etag).expect("hex etag"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.page {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    if asset.path == "/widget.js" {
        // Websites load it from their own pages.
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    }
    response
}

/// `GET` of any embedded file by its path.
pub(crate) fn routes() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify().and(warp::path::full()).and(warp::header::headers_cloned()).and_then(
        |path: warp::path::FullPath, headers: HeaderMap| async move {
            match ASSETS.iter().find(|a| a.path == path.as_str()) {
                Some(asset) => Ok(serve(asset, &headers)),
                None => Err(warp::reject::not_found()),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_page_names_its_hashed_assets() {
        let page = ASSETS.iter().find(|a| a.path == "/console").unwrap();
        let html = String::from_utf8(page.plain.clone()).unwrap();
        for asset in ASSETS.iter().filter(|a| a.path.starts_with("/assets/")) {
            assert!(html.contains(&asset.path), "{} not named by the console page", asset.path);
            assert_eq!(asset.cache, IMMUTABLE);
        }
        assert!(!html.contains("{{"), "a placeholder left in the page");
    }

    #[test]
    fn modules_import_each_other_by_hashed_name() {
        let text = |prefix: &str| {
            let a = ASSETS.iter().find(|a| a.path.starts_with(prefix)).unwrap();
            (a.path.trim_start_matches("/assets/").to_string(), String::from_utf8(a.plain.clone()).unwrap())
        };
        let ((dom, _), (admin, admin_js), (_, console_js)) =
            (text("/assets/dom."), text("/assets/admin."), text("/assets/console."));
        assert!(admin_js.contains(&format!("from \"./{dom}\"")), "admin imports {dom}");
        assert!(
            console_js.contains(&format!("from \"./{dom}\""))
                && console_js.contains(&format!("from \"./{admin}\""))
        );
        for (_, js) in [text("/assets/admin."), text("/assets/console.")] {
            assert!(
                !js.contains("from \"./dom.js\"") && !js.contains("from \"./admin.js\""),
                "an unhashed import left"
            );
        }
    }

    #[test]
    fn the_widget_stays_within_its_size_budget() {
        // Everything the widget loads is this one file: at most 30 KB compressed.
        assert!(widget_gzip_bytes() > 0 && widget_gzip_bytes() <= 30_000, "{} bytes", widget_gzip_bytes());
    }
}
