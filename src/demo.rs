//! `esocial-hub demo`: the hub and a simulated population register on loopback, with embedded
//! defaults (SQLite, development PKI), and one sample exchange shown end to end.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;

use crate::config::{
    AdapterSettings, AgencyGrantSettings, AgencySettings, AuditSettings, BenefitSettings,
    ClientSettings, ContractSettings, GrantSettings, MconnectSettings, MpiAccess, MpiRole,
    MpiSettings, RegistryOverride, RevocationSettings, ServerSettings, Settings, StoreSettings,
    TlsSettings,
};
use crate::startup::Application;
use esocial_catalog::Catalog;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, init_dev_pki};

pub struct DemoOptions {
    pub dir: PathBuf,
    pub adapters: PathBuf,
    pub contracts: PathBuf,
    pub subscriptions: PathBuf,
    pub listen: SocketAddr,
    pub ops_listen: SocketAddr,
    pub once: bool,
}

/// The client module the sample exchange is sent as, and its organisation's IDNO.
pub const DEMO_CLIENT: &str = "case-management";
/// The MLog simulator's certificate holder in the development PKI (as `registry-mlog`).
pub const MLOG_HOLDER: &str = "mlog";
/// The MConnect Events, MNotify and case-management module stand-ins' certificate holders.
pub const EVENTS_HOLDERS: [&str; 3] = ["mconnect-events", "mnotify", "case-module"];
/// The stand-ins' ports under `simulate events` (the demo takes free ones).
pub const EVENTS_PORTS: [u16; 3] = [8450, 8451, 8452];
pub const DEMO_CLIENT_IDNO: &str = "1008600038413";
/// A second module with few grants, to show deny-by-default and field limits.
pub const DEMO_UNGRANTED_CLIENT: &str = "benefits";
pub const DEMO_UNGRANTED_CLIENT_IDNO: &str = "1002600012347";

/// The agencies of the demo (certificate common name, IDNO, title), which ask eSocial over
/// MConnect.
pub const DEMO_AGENCIES: &[(&str, &str, &str)] = &[
    (
        "agency-police",
        "1003600001014",
        "Inspectoratul General al Poliției",
    ),
    (
        "agency-school",
        "1003600002022",
        "Liceul Teoretic „Mihai Eminescu”",
    ),
    (
        "agency-clinic",
        "1003600003030",
        "Centrul de Sănătate Orhei",
    ),
];

/// What each demo agency may ask and see: the police learn whether a child-protection or
/// domestic-violence case is open and whom to call, nothing of notes, risk or benefits; a
/// school only of child-protection cases; a clinic whether a patient receives benefits, and
/// it may report events.
pub fn demo_agency_grants() -> Vec<AgencyGrantSettings> {
    let grant = |agency: &str, service: &str, fields: Option<&[&str]>, types: Option<&[&str]>| {
        AgencyGrantSettings {
            agency: agency.into(),
            service: service.into(),
            fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
            case_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
        }
    };
    vec![
        grant(
            "agency-police",
            "GetActiveCases",
            Some(&[
                "hasActiveCase",
                "cases.type",
                "cases.agency",
                "cases.caseManager",
            ]),
            Some(&["child_protection", "domestic_violence"]),
        ),
        grant("agency-police", "NotifyCaseRelevantEvent", None, None),
        grant(
            "agency-school",
            "GetActiveCases",
            Some(&["hasActiveCase", "cases.type", "cases.caseManager"]),
            Some(&["child_protection"]),
        ),
        grant(
            "agency-clinic",
            "GetBeneficiaryStatus",
            Some(&["beneficiary", "benefits.code", "benefits.name"]),
            None,
        ),
        grant("agency-clinic", "NotifyCaseRelevantEvent", None, None),
    ]
}

/// Services the demo's benefits module may call, with the fields it may see (None = all).
const BENEFITS_GRANTS: &[(&str, Option<&[&str]>)] = &[
    (
        "civil.person-details",
        Some(&[
            "idnp",
            "firstName",
            "lastName",
            "status",
            "address.district",
        ]),
    ),
    ("health.insurance-status", None),
    ("health.disability", None),
    ("profile.social", None),
];

/// The demo's access matrix: case management may call every service of `catalog`; benefits
/// only what it needs, with the person's details limited to a few fields. Police data is for
/// case management alone.
pub fn demo_grants(catalog: &Catalog) -> Vec<GrantSettings> {
    let mut grants: Vec<GrantSettings> = catalog
        .summaries()
        .into_iter()
        .map(|summary| GrantSettings {
            client: DEMO_CLIENT.into(),
            service: summary.id,
            fields: None,
        })
        .collect();
    grants.extend(
        BENEFITS_GRANTS
            .iter()
            .map(|(service, fields)| GrantSettings {
                client: DEMO_UNGRANTED_CLIENT.into(),
                service: (*service).into(),
                fields: fields.map(|f| f.iter().map(|s| s.to_string()).collect()),
            }),
    );
    grants
}

/// The clients and agencies the demo's development PKI issues certificates for.
pub fn demo_certificate_holders() -> Vec<String> {
    let mut holders = vec![DEMO_CLIENT.to_string(), DEMO_UNGRANTED_CLIENT.to_string()];
    holders.extend(DEMO_AGENCIES.iter().map(|(name, _, _)| name.to_string()));
    holders
}

/// A settings file for the command line's store and audit commands (`audit verify`, `audit
/// prove`...): the development PKI in `pki`, the store at `store_url`, the audit secret, the
/// adapters and contracts, loopback ports the system chooses, and the demo's client.
pub fn settings_file(
    pki: &PkiLayout,
    store_url: &str,
    digest_key: &str,
    adapters: &Path,
    contracts: &Path,
) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
ops_listen = "127.0.0.1:0"
[tls]
cert = "{hub_cert}"
key = "{hub_key}"
client_ca = "{ca}"
[mconnect]
signing_cert = "{hub_cert}"
signing_key = "{hub_key}"
trust_ca = "{ca}"
[store]
url = "{store_url}"
[audit]
digest_key = "{digest_key}"
[adapters]
dir = "{adapters}"
[contracts]
dir = "{contracts}"
[[clients]]
id = "{DEMO_CLIENT}"
idno = "{DEMO_CLIENT_IDNO}"
"#,
        hub_cert = pki.cert("hub").display(),
        hub_key = pki.key("hub").display(),
        ca = pki.ca_cert().display(),
        adapters = adapters.display(),
        contracts = contracts.display(),
    )
}

/// The program `name`: itself when it is a path, else the first on the `PATH` (then in
/// `/usr/sbin` and `/sbin`, where Debian puts daemons such as nginx), if there is one.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Settings of a hub on loopback with the development PKI in `pki` and SQLite in `store_path`.
#[allow(clippy::too_many_arguments)]
pub fn embedded_settings(
    pki: &PkiLayout,
    store_path: &Path,
    adapters: &Path,
    contracts: &Path,
    grants: Vec<GrantSettings>,
    digest_key: SecretString,
    listen: SocketAddr,
    ops_listen: SocketAddr,
) -> Settings {
    Settings {
        server: ServerSettings {
            listen,
            ops_listen,
            // The benefits pages on a port of the loopback the system chooses.
            public_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            max_body_bytes: 64 * 1024,
            workers: 2,
            body_read_timeout_ms: 10_000,
        },
        tls: TlsSettings {
            cert: pki.cert("hub"),
            key: pki.key("hub"),
            client_ca: pki.ca_cert(),
        },
        mconnect: MconnectSettings {
            signing_cert: pki.cert("hub"),
            signing_key: pki.key("hub"),
            trust_ca: pki.ca_cert(),
            timestamp_ttl_secs: 900,
        },
        store: StoreSettings {
            url: SecretString::from(format!("sqlite://{}?mode=rwc", store_path.display())),
            max_connections: 4,
        },
        audit: AuditSettings {
            digest_key,
            previous_digest_keys: Vec::new(),
            checkpoint_interval_secs: 10,
            retention_days: None,
        },
        adapters: AdapterSettings {
            dir: adapters.to_owned(),
        },
        benefits: BenefitSettings {
            // Sheets download as PDF where Debian's `chromium` is installed.
            pdf_browser: find_program("chromium"),
            ..BenefitSettings::default()
        },
        contracts: ContractSettings {
            dir: contracts.to_owned(),
        },
        queue: Default::default(),
        registries: Default::default(),
        clients: vec![
            ClientSettings {
                id: DEMO_CLIENT.into(),
                idno: DEMO_CLIENT_IDNO.into(),
                operator: true,
                callback_urls: Vec::new(),
            },
            ClientSettings {
                id: DEMO_UNGRANTED_CLIENT.into(),
                idno: DEMO_UNGRANTED_CLIENT_IDNO.into(),
                operator: false,
                callback_urls: Vec::new(),
            },
        ],
        grants,
        agencies: DEMO_AGENCIES
            .iter()
            .map(|(name, idno, title)| AgencySettings {
                name: (*name).into(),
                idno: (*idno).into(),
                title: (*title).into(),
            })
            .collect(),
        agency_grants: demo_agency_grants(),
        mpi: MpiSettings {
            access: vec![MpiAccess {
                client: DEMO_CLIENT.into(),
                roles: vec![
                    MpiRole::Match,
                    MpiRole::Register,
                    MpiRole::Read,
                    MpiRole::Steward,
                    MpiRole::AccessLog,
                ],
            }],
            ..MpiSettings::default()
        },
        // The development CA's CRL (`certs revoke` adds to it).
        revocation: RevocationSettings {
            crl_files: vec![pki.crl()],
            ..RevocationSettings::default()
        },
        mlog: None,
        events: None,
        handoffs: None,
    }
}

/// Reads the demo's audit digest key, creating a random one (mode 0600) on first use.
fn digest_key(dir: &Path) -> anyhow::Result<SecretString> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("digest.key");
    if !path.is_file() {
        let mut bytes = [0u8; 32];
        openssl::rand::rand_bytes(&mut bytes)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating `{}`", path.display()))?;
        file.write_all(hex::encode(bytes).as_bytes())?;
    }
    let key =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    Ok(SecretString::from(key.trim().to_string()))
}

pub async fn run(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let dir = &options.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let dir = dir.canonicalize()?;
    let pki = PkiLayout::new(dir.join("pki"));
    let mut registries = crate::commands::registry_names(&options.adapters)?;
    registries.push(MLOG_HOLDER.to_string());
    registries.extend(EVENTS_HOLDERS.iter().map(|holder| holder.to_string()));
    let created = init_dev_pki(&pki, &registries, &demo_certificate_holders())?;
    if !created.is_empty() {
        writeln!(out, "Created a development PKI in {}", pki.dir.display())?;
    }

    let catalog =
        Catalog::load(&options.adapters, &options.contracts).context("loading the adapters")?;
    let population = Arc::new(Population::default_population());
    let mut endpoints = Vec::new();
    let mut simulators = Vec::new();
    for registry in catalog.registries() {
        let simulator = esocial_sim::start(
            &catalog,
            &registry.name,
            SimulatorConfig::from_dev_pki(
                &pki,
                &registry.name,
                "127.0.0.1:0".parse()?,
                population.clone(),
                Behaviour::default(),
            )?,
        )?;
        let base = reqwest::Url::parse(&registry.endpoint)?;
        endpoints.push((
            registry.name.clone(),
            format!("https://127.0.0.1:{}{}", simulator.port, base.path()),
        ));
        simulators.push(tokio::spawn(simulator.server));
    }

    let mlog = esocial_sim::mlog::start_mlog(esocial_sim::mlog::MlogConfig {
        listen: "127.0.0.1:0".parse()?,
        tls_cert: pki.cert(&esocial_wire::crypto::pki::registry_holder(MLOG_HOLDER)),
        tls_key: pki.key(&esocial_wire::crypto::pki::registry_holder(MLOG_HOLDER)),
        client_ca: pki.ca_cert(),
    })?;
    let mlog_events = mlog.events.clone();
    let mlog_url = format!("https://127.0.0.1:{}/mlog", mlog.port);
    simulators.push(tokio::spawn(mlog.server));

    let mut stand_ins = start_event_stand_ins(&pki, &options.contracts, [0; 3])?;
    simulators.extend(std::mem::take(&mut stand_ins.servers));

    let mut settings = embedded_settings(
        &pki,
        &dir.join("hub.db"),
        &options.adapters,
        &options.contracts,
        demo_grants(&catalog),
        digest_key(&dir)?,
        options.listen,
        options.ops_listen,
    );
    settings.mlog = Some(crate::audit::mlog::MlogSettings {
        url: mlog_url.clone(),
        batch_size: 200,
        interval_ms: 200,
        timeout_ms: 5_000,
    });
    settings.events = Some(crate::events::EventsSettings {
        subscriptions: options.subscriptions.clone(),
        client: DEMO_CLIENT.into(),
        calling_user: population.persons()[1].idnp.expose().to_string(),
        case_link: "https://esocial.gov.md/cazuri/{caseId}".into(),
        producers: Vec::new(),
        consumer_url: Some(stand_ins.consumer_url.clone()),
        mnotify_url: Some(stand_ins.mnotify_url.clone()),
        modules: vec![crate::events::ModuleSettings {
            name: "case-management".into(),
            url: stand_ins.module_url.clone(),
        }],
        max_attempts: 8,
        lease_ms: 30_000,
        timeout_ms: 5_000,
    });
    for (name, endpoint) in &endpoints {
        settings.registries.insert(
            name.clone(),
            RegistryOverride {
                endpoint: Some(endpoint.clone()),
                ..RegistryOverride::default()
            },
        );
    }
    let application = Application::build(settings).await?;
    let api_port = application.api_port();
    let ops_port = application.ops_port();
    let public_port = application.public_port();
    let hub_handle = tokio::spawn(application.run_until_stopped());
    for (name, endpoint) in &endpoints {
        writeln!(out, "Registry simulator {name:<10} {endpoint}")?;
    }
    writeln!(
        out,
        "Hub API (mTLS):   https://127.0.0.1:{api_port}/api/v1/exchanges"
    )?;
    writeln!(out, "MLog simulator    {mlog_url}")?;
    writeln!(out, "MConnect Events   {}", stand_ins.consumer_url)?;
    writeln!(out, "MNotify simulator {}", stand_ins.mnotify_url)?;
    writeln!(
        out,
        "Hub operations:   http://127.0.0.1:{ops_port}/health/ready  /metrics"
    )?;
    if let Some(port) = public_port {
        writeln!(
            out,
            "Benefits pages:   http://127.0.0.1:{port}/ro/  (estimator: /ro/estimare)"
        )?;
    }

    let subject = population.sample_subject();
    let client = demo_client(&pki)?;
    let api = format!("https://127.0.0.1:{api_port}/api/v1");
    let education_record = index_sample_subject(&client, &api, subject, &mut out).await?;
    let request = serde_json::json!({
        "service": "civil.person-details",
        "subject": {"source": "education", "localId": education_record},
        "purpose": {
            "legalBasis": "Legea nr. 123/2010 cu privire la serviciile sociale, art. 12",
            "reason": "Evaluarea inițială a cazului",
            "caseId": "DEMO-0001"
        },
        "caller": {"userIdnp": population.persons()[1].idnp.expose()}
    });
    writeln!(
        out,
        "\nSending a sample exchange as `{DEMO_CLIENT}` about that person, named by the \
         school's record:"
    )?;
    let response = client
        .post(format!("https://127.0.0.1:{api_port}/api/v1/exchanges"))
        .json(&request)
        .send()
        .await
        .context("sending the sample exchange")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("reading the answer")?;
    writeln!(
        out,
        "HTTP {status}\n{}",
        serde_json::to_string_pretty(&body)?
    )?;
    let completed = status.is_success() && body["status"] == "completed";
    if completed {
        writeln!(
            out,
            "\nThe register's signed SOAP answer was verified, mapped to canonical JSON, validated \
             and logged (exchange {}).",
            body["exchangeId"].as_str().unwrap_or("?")
        )?;
    }
    let answered = ask_as_police(&pki, &client, api_port, &population, &mut out).await?;
    let alerted = follow_an_event(&client, &api, &population, &stand_ins, &mut out).await?;
    let audited = show_mlog_events(&mlog_events, 2, &mut out).await?;
    let completed = completed && answered && alerted && audited;
    let request_file = dir.join("sample-request.json");
    std::fs::write(&request_file, serde_json::to_vec_pretty(&request)?)?;
    writeln!(out, "\nTry it yourself:")?;
    writeln!(
        out,
        "curl --cacert {ca} --cert {cert} --key {key} -H 'Content-Type: application/json' \\\n  --data @{req} https://127.0.0.1:{api_port}/api/v1/exchanges",
        ca = pki.ca_cert().display(),
        cert = pki.cert(&client_holder(DEMO_CLIENT)).display(),
        key = pki.key(&client_holder(DEMO_CLIENT)).display(),
        req = request_file.display(),
    )?;
    if options.once {
        hub_handle.abort();
        for simulator in simulators {
            simulator.abort();
        }
        return Ok(if completed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    writeln!(out, "\nServing until Ctrl-C.")?;
    drop(out);
    tokio::select! {
        result = hub_handle => { result??; }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the simulated case-management module has a child-protection case open about `idnp`.
fn has_child_protection_case(population: &Population, idnp: &str) -> bool {
    use esocial_sim::generators::{WireAnswer, generate};
    match generate("cases.active-cases", population, idnp) {
        Some(WireAnswer::Rest(answer)) => answer["cases"]["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["type"] == "child_protection")),
        _ => false,
    }
}

/// The stand-ins of the events flow: MConnect Events (fed here as the police registry would
/// publish), MNotify and the case-management module's webhook endpoint.
pub struct EventStandIns {
    pub servers: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub log: esocial_sim::EventLog,
    pub notifications: esocial_sim::mnotify::MnotifyHandle,
    pub webhooks: esocial_sim::module::ModuleHandle,
    pub consumer_url: String,
    pub mnotify_url: String,
    pub module_url: String,
}

/// Starts MConnect Events, MNotify and the module stand-in on the loopback, on `ports` (0: any
/// free port), with their certificates from `pki`.
pub fn start_event_stand_ins(
    pki: &PkiLayout,
    contracts: &Path,
    ports: [u16; 3],
) -> anyhow::Result<EventStandIns> {
    use esocial_wire::crypto::pki::registry_holder;
    let [events_holder, mnotify_holder, module_holder] = EVENTS_HOLDERS.map(registry_holder);
    let [events_port, mnotify_port, module_port] =
        ports.map(|port| SocketAddr::from(([127, 0, 0, 1], port)));
    let events = esocial_sim::start_events(esocial_sim::EventsConfig::new(
        events_port,
        pki.cert(&events_holder),
        pki.key(&events_holder),
        pki.ca_cert(),
        contracts.join("events"),
    ))?;
    let mnotify = esocial_sim::mnotify::start_mnotify(esocial_sim::mnotify::MnotifyConfig::new(
        mnotify_port,
        pki.cert(&mnotify_holder),
        pki.key(&mnotify_holder),
        pki.ca_cert(),
    ))?;
    let module = esocial_sim::module::start_module(esocial_sim::module::ModuleConfig {
        listen: module_port,
        tls_cert: pki.cert(&module_holder),
        tls_key: pki.key(&module_holder),
        client_ca: pki.ca_cert(),
    })?;
    Ok(EventStandIns {
        consumer_url: format!("wss://127.0.0.1:{}/ce/consume/ws", events.port),
        mnotify_url: format!("https://127.0.0.1:{}", mnotify.port),
        module_url: format!("https://127.0.0.1:{}/events", module.port),
        log: events.log,
        notifications: mnotify.handle,
        webhooks: module.handle,
        servers: vec![
            tokio::spawn(events.server),
            tokio::spawn(mnotify.server),
            tokio::spawn(module.server),
        ],
    })
}

/// The police register a protection order against a parent whose child has an open
/// child-protection case; the event travels through MConnect Events to the hub, which alerts
/// the child's case manager through MNotify and the case-management module by webhook.
async fn follow_an_event(
    client: &reqwest::Client,
    api: &str,
    population: &Population,
    stand_ins: &EventStandIns,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let has_child_case = |idnp: &str| has_child_protection_case(population, idnp);
    let Some(parent) = population
        .protection_orders()
        .iter()
        .filter_map(|order| population.person(order.aggressor))
        .find(|parent| {
            parent
                .children
                .iter()
                .filter_map(|child| population.person(*child))
                .any(|child| has_child_case(child.idnp.expose()))
        })
    else {
        writeln!(
            out,
            "\nNo household in the synthetic population has an order and a child's case."
        )?;
        return Ok(false);
    };
    let registered = client
        .post(format!("{api}/persons/records"))
        .json(&serde_json::json!({"source": "police", "record": {
            "localId": "IGP-5521",
            "idnp": parent.idnp.expose(),
            "firstName": parent.first_name,
            "lastName": parent.last_name,
            "birthDate": parent.birth_date_text(),
        }}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "registering the parent in the master index: HTTP {}",
        registered.status()
    );
    let event = esocial_wire::mconnect::cloudevent::CloudEvent {
        id: "IGP-OP-2026-5521".into(),
        source: "urn:gov:md:igp:police".into(),
        event_type: "Gov.Police.ProtectionOrder.Issued".into(),
        partition_key: Some(format!("idnp:{}", parent.idnp.expose())),
        time: Some(crate::exchange::now_text(time::OffsetDateTime::now_utc())),
        data: serde_json::json!({
            "idnp": parent.idnp.expose(),
            "orderId": "OP-2026-5521",
            "kind": "emergency",
            "issuedOn": crate::exchange::now_text(time::OffsetDateTime::now_utc())[..10],
        }),
        offset: None,
    };
    writeln!(
        out,
        "\nEvents: the police publish `Gov.Police.ProtectionOrder.Issued` on MConnect Events about \
         a parent whose child has an open child-protection case (offset {}).",
        stand_ins.log.publish(event)
    )?;
    for _ in 0..100 {
        if !stand_ins.notifications.is_empty() && !stand_ins.webhooks.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let notifications = stand_ins.notifications.notifications();
    let webhooks = stand_ins.webhooks.events();
    let Some(notification) = notifications.first() else {
        writeln!(out, "No MNotify notification arrived.")?;
        return Ok(false);
    };
    writeln!(
        out,
        "MNotify notification to the case manager ({} priority, no name, no IDNP):\n  {}\n  {}",
        notification["priority"].as_str().unwrap_or("?"),
        notification["subject"]["ro"].as_str().unwrap_or("?"),
        notification["body"]["ro"].as_str().unwrap_or("?"),
    )?;
    writeln!(
        out,
        "Signed webhook to the case-management module: {} alert(s), type {}",
        webhooks.len(),
        webhooks
            .first()
            .and_then(|w| w["type"].as_str())
            .unwrap_or("?"),
    )?;
    Ok(!webhooks.is_empty())
}

/// Waits (a few seconds at most) until MLog holds at least `expected` audit events, and shows
/// what it registered.
async fn show_mlog_events(
    events: &esocial_sim::mlog::MlogEvents,
    expected: usize,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    // Until MLog has the expected events and no more arrive for half a second, 5 s at most.
    let mut seen = 0;
    let mut quiet = 0;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let now = events.len();
        quiet = if now == seen { quiet + 1 } else { 0 };
        seen = now;
        if seen >= expected && quiet >= 5 {
            break;
        }
    }
    let registered = events.all();
    writeln!(
        out,
        "\nEvery access was written to the hub's audit log (a signed Merkle tree: \
         `esocial-hub audit verify`) and delivered to MLog, which registered {} event(s):",
        registered.len()
    )?;
    for event in &registered {
        writeln!(
            out,
            "  {}  {}  {}  legal basis: {}",
            event["event_time"].as_str().unwrap_or("?"),
            event["event_type"].as_str().unwrap_or("?"),
            event["event_message"].as_str().unwrap_or("?"),
            event["legal_basis"].as_str().unwrap_or("-"),
        )?;
    }
    Ok(registered.len() >= expected)
}

/// The provider side: the police ask, over MConnect REST, whether a child of the synthetic
/// population has an open case and whom to call. Prints the signed, minimised answer.
async fn ask_as_police(
    pki: &PkiLayout,
    module: &reqwest::Client,
    api_port: u16,
    population: &Population,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let has_child_case = |idnp: &str| has_child_protection_case(population, idnp);
    let Some(child) = population
        .persons()
        .iter()
        .find(|p| has_child_case(p.idnp.expose()))
    else {
        writeln!(
            out,
            "
(no child in the synthetic population has an open case)"
        )?;
        return Ok(true);
    };
    module
        .post(format!(
            "https://127.0.0.1:{api_port}/api/v1/persons/records"
        ))
        .json(&serde_json::json!({"source": "social", "record": {
            "localId": "SAS-2002", "idnp": child.idnp.expose(),
            "firstName": child.first_name, "lastName": child.last_name,
            "birthDate": child.birth_date_text()}}))
        .send()
        .await
        .context("registering the child in the master index")?;
    let agency = "agency-police";
    let holder = client_holder(agency);
    let signer = esocial_wire::crypto::jws::JwsSigner::from_pem(
        &std::fs::read(pki.key(&holder))?,
        &std::fs::read(pki.cert(&holder))?,
    )?;
    let message_id = uuid::Uuid::new_v4().to_string();
    let payload = esocial_wire::mconnect::envelope::CallContext {
        calling_user: population.persons()[2].idnp.expose().to_string(),
        calling_entity: DEMO_AGENCIES[0].1.to_string(),
        call_basis:
            "Legea nr. 45/2007 cu privire la prevenirea și combaterea violenței în familie, art. 8"
                .into(),
        call_reason: "Intervenție la un apel de violență în familie".into(),
        message_id: message_id.clone(),
        delivery: None,
    }
    .rest_payload(serde_json::json!({"idnp": child.idnp.expose()}));
    let token = esocial_wire::crypto::jws::sign_compact(
        payload.to_string().as_bytes(),
        &signer,
        std::time::SystemTime::now(),
        Duration::from_secs(300),
    )?;
    writeln!(
        out,
        "
The police ask eSocial over MConnect (REST, JWS) whether a child has an open case:"
    )?;
    let response = client_as(pki, agency)?
        .post(format!(
            "https://127.0.0.1:{api_port}/mconnect/v1/active-cases"
        ))
        .header("Content-Type", "application/jose")
        .body(token)
        .send()
        .await
        .context("asking as the police")?;
    let status = response.status();
    let body = response.text().await?;
    let verifier =
        esocial_wire::crypto::jws::JwsVerifier::from_pem(&std::fs::read(pki.ca_cert())?)?;
    let Ok(verified) = esocial_wire::crypto::jws::verify_compact(
        body.trim(),
        &verifier,
        std::time::SystemTime::now(),
    ) else {
        writeln!(
            out,
            "HTTP {status}: the answer is not a signed JWS
{body}"
        )?;
        return Ok(false);
    };
    let answer: serde_json::Value = serde_json::from_slice(&verified.payload)?;
    writeln!(
        out,
        "HTTP {status}, signed by `{}`
{}",
        verified.signer_common_name,
        serde_json::to_string_pretty(&answer)?
    )?;
    writeln!(
        out,
        "Only what the police's grant releases left the hub: case type, agency and the case \
         manager's work contact; no notes, risk level or benefits."
    )?;
    Ok(status.is_success() && answer["mconnect"]["relatesTo"] == message_id.as_str())
}

/// Registers the sample subject in the master index twice: as a social-assistance record with
/// the IDNP, and as a school record in Cyrillic without it (day and month swapped). Prints
/// how the second was linked, and returns its local id.
async fn index_sample_subject(
    client: &reqwest::Client,
    api: &str,
    subject: &esocial_sim::population::SyntheticPerson,
    out: &mut impl Write,
) -> anyhow::Result<String> {
    let (year, month, day) = subject.birth_date;
    let swapped = if day <= 12 && day != month {
        format!("{year:04}-{day:02}-{month:02}")
    } else {
        subject.birth_date_text()
    };
    let records = [
        (
            "social",
            serde_json::json!({
                "localId": "SAS-1001",
                "idnp": subject.idnp.expose(),
                "firstName": subject.first_name,
                "lastName": subject.last_name,
                "birthDate": subject.birth_date_text(),
            }),
        ),
        (
            "education",
            serde_json::json!({
                "localId": "SIME-77",
                "firstName": esocial_sim::moldova::moldovan_cyrillic(&subject.first_name),
                "lastName": esocial_sim::moldova::moldovan_cyrillic(&subject.last_name),
                "birthDate": swapped,
            }),
        ),
    ];
    writeln!(
        out,
        "\nMaster index: registering two records of one synthetic person:"
    )?;
    let mut last = serde_json::Value::Null;
    for (source, record) in &records {
        let response = client
            .post(format!("{api}/persons/records"))
            .json(&serde_json::json!({"source": source, "record": record}))
            .send()
            .await
            .context("registering a record in the master index")?;
        last = response.json().await.context("reading the registration")?;
        writeln!(
            out,
            "  {source:<10} {}  ->  person {} ({}{})",
            record["localId"].as_str().unwrap_or("?"),
            last["personId"].as_str().unwrap_or("?"),
            if last["updated"] == true {
                "already known, updated"
            } else {
                last["outcome"].as_str().unwrap_or("?")
            },
            last["score"]
                .as_f64()
                .map(|s| format!(", weight {s:.1}"))
                .unwrap_or_default(),
        )?;
    }
    writeln!(
        out,
        "  GET {api}/persons/{} shows both records",
        last["personId"].as_str().unwrap_or("?")
    )?;
    Ok("SIME-77".into())
}

fn demo_client(pki: &PkiLayout) -> anyhow::Result<reqwest::Client> {
    client_as(pki, DEMO_CLIENT)
}

/// An HTTPS client presenting the development certificate of client or agency `name`.
fn client_as(pki: &PkiLayout, name: &str) -> anyhow::Result<reqwest::Client> {
    Ok(https_client_builder(pki, &client_holder(name))?
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// An HTTPS client builder presenting the development certificate of `holder`, trusting only
/// the development CA, with no proxy: what the demo and the load benches call the hub with.
pub fn https_client_builder(
    pki: &PkiLayout,
    holder: &str,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let identity = reqwest::Identity::from_pkcs8_pem(
        &std::fs::read(pki.cert(holder))?,
        &std::fs::read(pki.key(holder))?,
    )?;
    Ok(reqwest::Client::builder()
        .identity(identity)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(
            pki.ca_cert(),
        )?)?)
        .tls_built_in_root_certs(false)
        .no_proxy())
}
