//! The invoke path's credentials: the SDK's provider chain (static keys, the
//! default chain, an assumed role), asked once and cached until shortly
//! before the credentials expire, so a request costs a read lock, not a
//! provider call. One refresh at a time; callers during a refresh wait for it.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;

/// How long before expiry cached credentials are replaced, at most.
const REFRESH_AHEAD: Duration = Duration::from_secs(60);

/// When credentials received at `now` that expire at `expiry` are refreshed:
/// [`REFRESH_AHEAD`] before they expire, or half-way through their remaining
/// life when that is shorter, so a provider that hands out short-lived
/// credentials is not asked on every request. `None`: they never expire.
pub fn refresh_at(now: SystemTime, expiry: Option<SystemTime>) -> Option<SystemTime> {
    let expiry = expiry?;
    let remaining = expiry.duration_since(now).unwrap_or(Duration::ZERO);
    Some(expiry - REFRESH_AHEAD.min(remaining / 2))
}

/// Cached credentials over a provider.
#[derive(Debug)]
pub struct CachedCredentials {
    provider: Option<SharedCredentialsProvider>,
    current: RwLock<Option<(Identity, Option<SystemTime>)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl CachedCredentials {
    /// A cache over `provider`; `None` when the SDK configuration has no
    /// provider at all (every request then fails with a credentials error).
    pub fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The identity to sign with.
    ///
    /// # Errors
    /// The provider's error, as a message for people.
    pub async fn identity(&self) -> Result<Identity, String> {
        if let Some(identity) = self.cached(SystemTime::now()) {
            return Ok(identity);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(identity) = self.cached(SystemTime::now()) {
            return Ok(identity);
        }
        let provider = self
            .provider
            .as_ref()
            .ok_or("no AWS credentials provider is configured")?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            format!(
                "loading AWS credentials: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
        let renew = refresh_at(SystemTime::now(), credentials.expiry());
        let identity = Identity::from(credentials);
        if let Ok(mut current) = self.current.write() {
            *current = Some((identity.clone(), renew));
        }
        Ok(identity)
    }

    fn cached(&self, now: SystemTime) -> Option<Identity> {
        let current = self.current.read().ok()?;
        let (identity, renew) = current.as_ref()?;
        renew.is_none_or(|at| now < at).then(|| identity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn refresh_time_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let secs = Duration::from_secs;
        let cases = [
            // (expires in, refreshed this long before expiry)
            (Some(secs(3600)), Some(secs(60))),
            (Some(secs(121)), Some(Duration::from_millis(60_000))),
            (Some(secs(100)), Some(secs(50))),
            (Some(secs(2)), Some(secs(1))),
            (Some(Duration::ZERO), Some(Duration::ZERO)),
            (None, None),
        ];
        for (expires_in, ahead) in cases {
            let expiry = expires_in.map(|d| now + d);
            let got = refresh_at(now, expiry);
            let want = expiry.zip(ahead).map(|(e, a)| e - a);
            assert_eq!(got, want, "expires in {expires_in:?}");
        }
        // Already expired when received: refreshed at expiry, i.e. next time.
        let past = now - secs(5);
        assert_eq!(refresh_at(now, Some(past)), Some(past));
    }

    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = self.lifetime.map(|l| SystemTime::now() + l);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                None,
                expiry,
                "test",
            )))
        }
    }

    fn cache(lifetime: Option<Duration>) -> (CachedCredentials, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let provider = Counting {
            calls: calls.clone(),
            lifetime,
        };
        (
            CachedCredentials::new(Some(SharedCredentialsProvider::new(provider))),
            calls,
        )
    }

    fn key(identity: &Identity) -> String {
        identity
            .data::<Credentials>()
            .map(|c| c.access_key_id().to_string())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn long_lived_credentials_are_asked_for_once() {
        let (cache, calls) = cache(Some(Duration::from_secs(3600)));
        for _ in 0..5 {
            assert_eq!(key(&cache.identity().await.unwrap()), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expiring_credentials_are_replaced() {
        // Received with no time left: due for refresh on the next request.
        let (cache, calls) = cache(Some(Duration::ZERO));
        assert_eq!(key(&cache.identity().await.unwrap()), "AKID0");
        assert_eq!(key(&cache.identity().await.unwrap()), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_provider_is_a_clear_error() {
        let cache = CachedCredentials::new(None);
        let e = cache.identity().await.unwrap_err();
        assert!(e.contains("no AWS credentials provider"), "{e}");
    }
}
