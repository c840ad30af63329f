//! How every watch of this process lists the API: the watcher configuration that the
//! controllers' caches and the token service's index share.

use kube::runtime::watcher;

/// Objects per page of a watch's initial list (kube's default is 500). A page is held whole,
/// as the API served it (managedFields included), until its last object has been cached: 500
/// token Secrets or AccessTokens are several MiB each, and at a restart the watches list side
/// by side, so the pages, not the caches, were the operator's peak. 100 keeps a page under a
/// MiB for 20 more list requests per 10,000 objects.
pub const LIST_PAGE_SIZE: u32 = 100;

/// The watcher configuration of every watch that fills a cache or the token index.
pub fn watch_config() -> watcher::Config {
    watcher::Config::default().page_size(LIST_PAGE_SIZE)
}
