//! Wires settings into a running hub: catalog, access matrix, store, MConnect client and the
//! two listeners. Refuses to start on anything inconsistent.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context;
use tracing::{info, warn};

use crate::api::{self, ApiState, OpsState};
use crate::audit::mlog::MlogDelivery;
use crate::audit::{AuditLog, AuditSealer, PersonalDataDigester};
use crate::config::{QueueKind, Settings, SettingsError};
use crate::exchange::Exchanger;
use crate::exchange::RetryPolicy;
use crate::exchange::workers::{QueueSettings, start_workers};
use crate::metrics::HubMetrics;
use crate::queue::{QueueBackend, Rabbit};
use esocial_catalog::{AccessMatrix, Catalog, Grant};
use esocial_mpi::MasterIndex;
use esocial_store::Store;
use esocial_wire::crypto::revocation::Revocation;
use esocial_wire::crypto::sealing::Sealer;
use esocial_wire::crypto::tls::ClientPem;
use esocial_wire::domain::Idno;
use esocial_wire::mconnect::client::MconnectClient;

/// A built hub whose listeners are bound and which runs until stopped.
pub struct Application {
    api_port: u16,
    ops_port: u16,
    public_port: Option<u16>,
    api: Server,
    ops: Server,
    /// The benefits pages, when `server.public_listen` is set.
    pages: Option<Server>,
    store: Store,
    workers: Vec<tokio::task::JoinHandle<()>>,
    /// Signs the audit log's last checkpoint at shutdown.
    audit: AuditLog,
}

fn read(path: &std::path::Path, key: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("setting `{key}`: cannot read `{}`", path.display()))
}

/// Loads the catalog and applies the settings' registry overrides and grant checks.
pub fn load_catalog(settings: &Settings) -> anyhow::Result<(Catalog, AccessMatrix)> {
    let mut catalog =
        Catalog::load(&settings.adapters.dir, &settings.contracts.dir).with_context(|| {
            format!(
                "loading adapters from `{}`",
                settings.adapters.dir.display()
            )
        })?;
    for (name, registry) in &settings.registries {
        let known = catalog.override_registry(
            name,
            &esocial_catalog::RegistrySettings {
                endpoint: registry.endpoint.clone(),
                timeout: registry.timeout_ms.map(Duration::from_millis),
                max_in_flight: registry.max_in_flight,
                max_answer_bytes: registry.max_answer_bytes,
            },
        );
        if !known {
            return Err(SettingsError::invalid(
                format!("registries.{name}"),
                "no adapter folder defines this registry",
            )
            .into());
        }
    }
    for (index, grant) in settings.grants.iter().enumerate() {
        let Some(contract) = catalog.contract(&grant.service) else {
            return Err(SettingsError::invalid(
                format!("grants[{index}].service"),
                format!("unknown service `{}`", grant.service),
            )
            .into());
        };
        let properties = contract.response_schema.get("properties");
        for field in grant.fields.iter().flatten() {
            let top = field.split('.').next().unwrap_or_default();
            if properties.and_then(|p| p.get(top)).is_none() {
                return Err(SettingsError::invalid(
                    format!("grants[{index}].fields"),
                    format!("`{field}` is not a field of `{}` answers", grant.service),
                )
                .into());
            }
        }
    }
    let access = AccessMatrix::new(settings.grants.iter().map(|grant| Grant {
        client: grant.client.clone(),
        service: grant.service.clone(),
        fields: grant.fields.clone(),
    }));
    Ok((catalog, access))
}

/// Loads the CRLs of `[revocation]`; each must be signed by a CA of `tls.client_ca` or
/// `mconnect.trust_ca`.
async fn load_revocation(settings: &Settings) -> anyhow::Result<Revocation> {
    let mut issuers = Vec::new();
    for (key, path) in [
        ("tls.client_ca", &settings.tls.client_ca),
        ("mconnect.trust_ca", &settings.mconnect.trust_ca),
    ] {
        issuers.extend(
            openssl::x509::X509::stack_from_pem(&read(path, key)?)
                .with_context(|| format!("setting `{key}`: not PEM certificates"))?,
        );
    }
    let sources = settings.revocation.sources();
    let count = sources.len();
    let revocation = Revocation::load(sources, settings.revocation.stale_policy, issuers)
        .await
        .context("settings `revocation.*`")?;
    if revocation.is_enabled() {
        info!(sources = count, "certificate revocation lists loaded");
    } else {
        warn!("no certificate revocation list configured: revocation is not checked");
    }
    Ok(revocation)
}

/// The provider side: agencies and their grants from the settings; answers signed with the
/// hub's MConnect identity; agency signatures trusted when they chain to the client CA and
/// (JWS) are not revoked.
fn build_provider(
    settings: &Settings,
    exchanger: Exchanger,
    mpi: Arc<MasterIndex>,
    revocation: &Revocation,
) -> anyhow::Result<crate::provider::Provider> {
    use crate::provider::{Agency, AgencyGrant, InboundService, Provider, ProviderKeys};
    use esocial_wire::crypto::jws::{JwsSigner, JwsVerifier};
    use esocial_wire::crypto::wssec::{SigningIdentity, TrustAnchors};
    let cert = read(&settings.mconnect.signing_cert, "mconnect.signing_cert")?;
    let key = read(&settings.mconnect.signing_key, "mconnect.signing_key")?;
    let client_ca = read(&settings.tls.client_ca, "tls.client_ca")?;
    let keys = ProviderKeys {
        identity: Arc::new(
            SigningIdentity::from_pem(&key, &cert).context("settings `mconnect.signing_*`")?,
        ),
        jws_signer: Arc::new(
            JwsSigner::from_pem(&key, &cert).context("settings `mconnect.signing_*`")?,
        ),
        trust: Arc::new(
            TrustAnchors::from_pem(&client_ca)
                .context("setting `tls.client_ca`")?
                .with_revocation(revocation.clone()),
        ),
        jws_verifier: Arc::new(
            JwsVerifier::from_pem(&client_ca)
                .context("setting `tls.client_ca`")?
                .with_revocation(revocation.clone()),
        ),
    };
    let agencies = settings.agencies.iter().map(|agency| Agency {
        name: agency.name.clone(),
        idno: Idno::parse(&agency.idno).expect("validated by Settings::validate"),
    });
    let grants = settings.agency_grants.iter().map(|grant| {
        (
            grant.agency.clone(),
            InboundService::parse(&grant.service).expect("validated by Settings::validate"),
            AgencyGrant {
                fields: grant.fields.clone(),
                case_types: grant.case_types.clone(),
            },
        )
    });
    Ok(Provider::new(keys, agencies, grants, exchanger, mpi))
}

/// Where the outbox sends: MNotify, the events' modules and the hand-offs' parties, one name
/// each; its attempts, lease and timeout are the events flow's, or their defaults.
fn outbox_settings(
    settings: &Settings,
    handoffs: Option<&crate::handoffs::Handoffs>,
) -> anyhow::Result<crate::outbox::OutboxSettings> {
    let events = settings.events.as_ref();
    let mut endpoints = std::collections::HashMap::new();
    let modules = events
        .into_iter()
        .flat_map(|events| &events.modules)
        .map(|module| (module.name.as_str(), module.url.as_str()));
    let parties = handoffs
        .into_iter()
        .flat_map(|handoffs| handoffs.endpoints());
    for (name, url) in modules.chain(parties) {
        if endpoints
            .insert(name.to_string(), url.to_string())
            .is_some()
        {
            anyhow::bail!(
                "settings `events.modules` and `handoffs.parties`: the name `{name}` is given twice"
            );
        }
    }
    Ok(crate::outbox::OutboxSettings {
        mnotify_url: events.and_then(|events| events.mnotify_url.clone()),
        endpoints,
        max_attempts: events.map_or(8, |events| events.max_attempts),
        lease_ms: events.map_or(30_000, |events| events.lease_ms),
        timeout_ms: events.map_or(10_000, |events| events.timeout_ms),
    })
}

/// The events flow: event contracts from `contracts/events`, subscriptions from their folder.
fn build_events(
    events: &crate::events::EventsSettings,
    settings: &Settings,
    exchanger: Exchanger,
    mpi: Arc<MasterIndex>,
    delivering: Arc<tokio::sync::Notify>,
) -> anyhow::Result<crate::events::Events> {
    let contracts =
        esocial_catalog::events::EventContracts::load(&settings.contracts.dir.join("events"))
            .context("setting `contracts.dir`: the event contracts")?;
    let subscriptions =
        crate::events::subscriptions::Subscriptions::load(&events.subscriptions, &contracts)
            .context("setting `events.subscriptions`")?;
    info!(
        event_types = contracts.types().count(),
        subscriptions = subscriptions.len(),
        "events flow ready"
    );
    crate::events::Events::new(events, contracts, subscriptions, exchanger, mpi, delivering)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let (catalog, access) = load_catalog(&settings)?;
        info!(
            registries = catalog.registries().count(),
            services = catalog.services().count(),
            fixture_cases = catalog.fixture_cases(),
            "catalog loaded and every fixture checked"
        );
        let catalog = Arc::new(catalog);
        let clients: BTreeMap<String, Idno> = settings
            .clients
            .iter()
            .map(|client| {
                let idno = Idno::parse(&client.idno).expect("validated by Settings::validate");
                (client.id.clone(), idno)
            })
            .collect();

        let store = Store::connect(&settings.store.url, settings.store.max_connections)
            .await
            .context("setting `store.url`: cannot open the store")?;
        let interrupted = store.fail_interrupted_exchanges().await?;
        if interrupted > 0 {
            warn!(
                interrupted,
                "closed exchanges left in progress by a previous run as failed"
            );
        }
        let instance = settings.queue.instance_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_string())
                .unwrap_or_else(|_| "localhost".into());
            format!("{host}/{}", settings.server.listen)
        });
        let reclaimed = store.reclaim_leases(&instance).await?;
        if reclaimed > 0 {
            warn!(
                reclaimed,
                "took back the async exchanges a previous run of this hub was working on"
            );
        }

        let revocation = load_revocation(&settings).await?;
        // The hub's MConnect identity, read once: registries, MLog, MConnect Events, MNotify,
        // modules and agencies all see this certificate.
        let signing_cert = read(&settings.mconnect.signing_cert, "mconnect.signing_cert")?;
        let signing_key = read(&settings.mconnect.signing_key, "mconnect.signing_key")?;
        let trust_ca = read(&settings.mconnect.trust_ca, "mconnect.trust_ca")?;
        let hub_pem = ClientPem {
            certificate_pem: &signing_cert,
            key_pem: &signing_key,
            trust_pem: &trust_ca,
        };
        let mconnect = MconnectClient::new(
            &signing_cert,
            &signing_key,
            &trust_ca,
            Duration::from_secs(settings.mconnect.timestamp_ttl_secs),
        )
        .context("settings `mconnect.*`")?
        .with_revocation(revocation.clone());
        let mut tls = esocial_wire::crypto::tls::mutual_tls_acceptor(
            &settings.tls.cert,
            &settings.tls.key,
            &settings.tls.client_ca,
        )
        .context("settings `tls.*`")?;
        esocial_wire::crypto::tls::refuse_revoked_clients(&mut tls, revocation.clone());

        let metrics = HubMetrics::new();
        let queue_config = &settings.queue;
        let queue = match queue_config.backend {
            QueueKind::Embedded => QueueBackend::Embedded,
            QueueKind::Rabbitmq => QueueBackend::Rabbit(
                Rabbit::connect(
                    queue_config
                        .amqp_url
                        .clone()
                        .expect("validated by Settings::validate"),
                    &queue_config.namespace,
                    catalog.registries().map(|r| r.name.clone()).collect(),
                )
                .await
                .context("setting `queue.amqp_url`: cannot reach RabbitMQ")?,
            ),
        };
        info!(backend = queue.name(), "queue ready");
        let exchanger = Exchanger::new(
            catalog.clone(),
            access,
            clients,
            store.clone(),
            mconnect,
            PersonalDataDigester::new(&settings.key_ring()),
            metrics.clone(),
            Sealer::from_ring(&settings.key_ring()),
            queue,
            RetryPolicy {
                max_attempts: queue_config.max_attempts,
                base_delay: Duration::from_millis(queue_config.base_delay_ms),
                max_delay: Duration::from_millis(queue_config.max_delay_ms),
                lease: Duration::from_millis(queue_config.lease_ms),
            },
        )
        .with_instance(&instance)
        .with_queue_concurrency(queue_config.concurrency_per_registry)
        .with_breaker_policy(crate::exchange::breaker::BreakerPolicy {
            threshold: queue_config.breaker_threshold,
            cooldown: Duration::from_millis(queue_config.breaker_cooldown_ms),
        })
        .with_operators(
            settings
                .clients
                .iter()
                .filter(|c| c.operator)
                .map(|c| c.id.clone()),
        )
        .with_callbacks(
            settings
                .clients
                .iter()
                .map(|c| (c.id.clone(), c.callback_urls.clone()))
                .collect(),
        );
        let mut workers = start_workers(
            exchanger.clone(),
            QueueSettings {
                poll_interval: Duration::from_millis(200),
                republish_after: Duration::from_millis(queue_config.republish_after_ms),
            },
        );
        if revocation.is_enabled() {
            workers.push(
                revocation.spawn_refresh(Duration::from_secs(settings.revocation.refresh_secs)),
            );
        }
        let audit = AuditLog::new(
            store.clone(),
            AuditSealer::from_ring(&settings.key_ring()),
            Arc::new(
                esocial_wire::crypto::wssec::SigningIdentity::from_pem(&signing_key, &signing_cert)
                    .context("settings `mconnect.signing_*`")?,
            ),
        );
        if crate::audit::log::record_access_matrix(&store, &settings.access_matrix_digest())
            .await
            .context("recording the access matrix in the audit log")?
        {
            info!("the access matrix changed; recorded in the audit log");
        }
        workers.push(audit.clone().spawn(
            Duration::from_millis(250),
            Duration::from_secs(settings.audit.checkpoint_interval_secs),
        ));
        if let Some(mlog) = &settings.mlog {
            let entities = settings
                .clients
                .iter()
                .map(|client| (client.id.clone(), client.idno.clone()))
                .chain(
                    settings
                        .agencies
                        .iter()
                        .map(|agency| (agency.name.clone(), agency.idno.clone())),
                )
                .collect();
            let delivery = MlogDelivery::new(
                mlog,
                store.clone(),
                hub_pem,
                Sealer::from_ring(&settings.key_ring()),
                entities,
            )
            .context("settings `mlog` and `mconnect.*`")?;
            workers.push(delivery.spawn());
        }
        let api_listener = TcpListener::bind(settings.server.listen).with_context(|| {
            format!(
                "setting `server.listen`: cannot bind {}",
                settings.server.listen
            )
        })?;
        let ops_listener = TcpListener::bind(settings.server.ops_listen).with_context(|| {
            format!(
                "setting `server.ops_listen`: cannot bind {}",
                settings.server.ops_listen
            )
        })?;
        let public_listener = settings
            .server
            .public_listen
            .map(|address| {
                TcpListener::bind(address).with_context(|| {
                    format!("setting `server.public_listen`: cannot bind {address}")
                })
            })
            .transpose()?;
        let api_port = api_listener.local_addr()?.port();
        let ops_port = ops_listener.local_addr()?.port();
        let public_port = public_listener
            .as_ref()
            .map(|listener| listener.local_addr().map(|address| address.port()))
            .transpose()?;
        let benefits = Arc::new(
            esocial_benefits::Catalog::load(&settings.benefits.dir).with_context(|| {
                format!(
                    "loading the benefits catalog from `{}`",
                    settings.benefits.dir.display()
                )
            })?,
        );
        let mpi = Arc::new(
            MasterIndex::load(
                store.clone(),
                Sealer::from_ring(&settings.key_ring()),
                settings.mpi.thresholds(),
                |records| info!(records, "master index loading"),
            )
            .await
            .context("loading the master index")?,
        );
        let (records, persons) = mpi.counts();
        info!(records, persons, "master index ready");
        let mpi_roles = settings
            .mpi
            .access
            .iter()
            .map(|access| (access.client.clone(), access.roles.clone()))
            .collect();
        let delivering = Arc::new(tokio::sync::Notify::new());
        let events = settings
            .events
            .as_ref()
            .map(|events| {
                build_events(
                    events,
                    &settings,
                    exchanger.clone(),
                    mpi.clone(),
                    delivering.clone(),
                )
            })
            .transpose()?;
        if let Some(events) = &events {
            workers.push(events.spawn_handler(Duration::from_millis(500)));
            if let Some(url) = settings
                .events
                .as_ref()
                .and_then(|e| e.consumer_url.as_ref())
            {
                let consumer = esocial_wire::mconnect::events::EventsConsumer::new(url, hub_pem)
                    .context("setting `events.consumer_url`")?;
                workers.push(events.spawn_consumer(consumer));
            }
        }
        let provider = Arc::new(
            build_provider(&settings, exchanger.clone(), mpi.clone(), &revocation)?
                .with_events(events.clone()),
        );
        let handoffs = settings
            .handoffs
            .as_ref()
            .map(|handoffs| -> anyhow::Result<_> {
                Ok(crate::handoffs::Handoffs::new(
                    handoffs,
                    exchanger.clone(),
                    esocial_wire::crypto::jws::JwsVerifier::from_pem(&read(
                        &settings.tls.client_ca,
                        "tls.client_ca",
                    )?)
                    .context("setting `tls.client_ca`")?
                    .with_revocation(revocation.clone()),
                    delivering.clone(),
                ))
            })
            .transpose()?;
        if let Some(handoffs) = &handoffs {
            workers.push(handoffs.spawn_deadline_watch(Duration::from_secs(1)));
        }
        if events.is_some() || handoffs.is_some() {
            let deliverer = crate::outbox::Deliverer::new(
                outbox_settings(&settings, handoffs.as_ref())?,
                handoffs.clone(),
                store.clone(),
                hub_pem,
                Sealer::from_ring(&settings.key_ring()),
                metrics.clone(),
                &instance,
            )
            .context("settings `events`, `handoffs` and `mconnect.*`")?;
            workers.push(deliverer.clone().spawn_follower(Duration::from_secs(5)));
            workers.push(deliverer.spawn(delivering, Duration::from_millis(500)));
        }
        let exchanger_for_ops = exchanger.clone();
        let api = api::api_server(
            api_listener,
            tls,
            ApiState {
                exchanger,
                max_body_bytes: settings.server.max_body_bytes,
                body_read_timeout: Duration::from_millis(settings.server.body_read_timeout_ms),
                openapi: std::fs::read_to_string(settings.contracts.dir.join("openapi.json"))
                    .context("setting `contracts.dir`: cannot read openapi.json")?,
                mpi,
                mpi_roles,
                provider,
                benefits: benefits.clone(),
                events,
                handoffs,
            },
            settings.server.workers,
        )?;
        let pages = public_listener
            .map(|listener| {
                crate::pages::pages_server(
                    listener,
                    benefits,
                    store.clone(),
                    metrics.clone(),
                    settings.benefits.pdf_browser.clone(),
                )
            })
            .transpose()?;
        let ops = api::ops_server(
            ops_listener,
            OpsState {
                store: store.clone(),
                catalog,
                metrics,
                queue: exchanger_for_ops,
            },
        )?;
        info!(api_port, ops_port, public_port, "hub listening");
        Ok(Self {
            api_port,
            ops_port,
            public_port,
            api,
            ops,
            pages,
            store,
            workers,
            audit,
        })
    }

    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    pub fn ops_port(&self) -> u16 {
        self.ops_port
    }

    /// The benefits pages' port, when they are served.
    pub fn public_port(&self) -> Option<u16> {
        self.public_port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until every listener stops (Ctrl-C stops them gracefully), then stops the
    /// workers; exchanges they held are taken up again when their lease runs out.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let pages = async {
            match self.pages {
                Some(pages) => pages.await,
                None => Ok(()),
            }
        };
        let (api, ops, pages) = futures_util::future::join3(self.api, self.ops, pages).await;
        for worker in self.workers {
            worker.abort();
        }
        self.audit.close().await;
        api.and(ops).and(pages)
    }
}
