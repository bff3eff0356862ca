//! Fault tests of asynchronous exchanges against real processes: the hub binary killed with
//! SIGKILL in the middle of a load and started again, and the RabbitMQ broker restarted in
//! the middle of a load. Afterwards every accepted exchange must have ended exactly once.
//! These run in their own test binary because they stop shared servers.

// Shared with the API tests; not every helper is used here.
#[allow(dead_code)]
#[path = "api/async_helpers.rs"]
mod async_helpers;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use esocial_catalog::Catalog;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_store::{ExchangeStatus, Store};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, init_dev_pki};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::async_helpers::{Backend, rabbit_url, spawn_async_app};
use crate::helpers::{SpawnOptions, adapters_dir, client_with, contracts_dir};

const HUB: &str = env!("CARGO_BIN_EXE_esocial-hub");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A hub settings file for the binary, pointing at simulators of this process.
fn settings_toml(pki: &PkiLayout, db: &Path, api: u16, ops: u16, civil: u16) -> String {
    let p = |path: std::path::PathBuf| path.display().to_string();
    format!(
        r#"
[server]
listen = "127.0.0.1:{api}"
ops_listen = "127.0.0.1:{ops}"
[tls]
cert = "{hub_cert}"
key = "{hub_key}"
client_ca = "{ca}"
[mconnect]
signing_cert = "{hub_cert}"
signing_key = "{hub_key}"
trust_ca = "{ca}"
[store]
url = "sqlite://{db}?mode=rwc"
[audit]
digest_key = "fault-test-digest-key-0123456789abcdef"
[adapters]
dir = "{adapters}"
[contracts]
dir = "{contracts}"
[queue]
max_attempts = 5
base_delay_ms = 20
max_delay_ms = 200
lease_ms = 1500
concurrency_per_registry = 4
[registries.civil]
endpoint = "https://127.0.0.1:{civil}/civil"
[[clients]]
id = "case-management"
idno = "1008600038413"
[[grants]]
client = "case-management"
service = "civil.person-details"
"#,
        hub_cert = p(pki.cert("hub")),
        hub_key = p(pki.key("hub")),
        ca = p(pki.ca_cert()),
        db = db.display(),
        adapters = p(adapters_dir()),
        contracts = p(contracts_dir()),
    )
}

fn start_hub(config: &Path) -> Child {
    Command::new(HUB)
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the hub binary starts")
}

async fn wait_live(ops: u16) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{ops}/health/live"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hub did not come up");
}

/// A development PKI and a civil simulator in this process; returns the simulator's port.
fn civil_simulator(dir: &Path, behaviour: Behaviour) -> (PkiLayout, Arc<Population>, u16) {
    esocial_hub::telemetry::init("warn", false);
    let pki = PkiLayout::new(dir.join("pki"));
    init_dev_pki(&pki, &["civil".into()], &["case-management".into()]).unwrap();
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir()).unwrap();
    let population = Arc::new(Population::synthetic(5, 200));
    let simulator = esocial_sim::start(
        &catalog,
        "civil",
        SimulatorConfig::from_dev_pki(
            &pki,
            "civil",
            "127.0.0.1:0".parse().unwrap(),
            population.clone(),
            behaviour,
        )
        .unwrap(),
    )
    .unwrap();
    let port = simulator.port;
    tokio::spawn(simulator.server);
    (pki, population, port)
}

fn async_body(idnp: &str, user: &str) -> Value {
    json!({
        "mode": "async",
        "service": "civil.person-details",
        "subject": {"idnp": idnp},
        "purpose": {"legalBasis": "Legea nr. 123/2010, art. 12", "reason": "Evaluare"},
        "caller": {"userIdnp": user},
    })
}

#[tokio::test]
async fn operators_list_and_replay_dead_letters_from_the_command_line() {
    // Arrange: a registry that always fails, so the exchange is dead-lettered.
    let dir = tempfile::tempdir().unwrap();
    let (pki, population, civil) = civil_simulator(
        dir.path(),
        Behaviour {
            fail_status: Some(503),
            ..Behaviour::default()
        },
    );
    let db = dir.path().join("hub.db");
    let (api, ops) = (free_port(), free_port());
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, settings_toml(&pki, &db, api, ops, civil)).unwrap();
    let mut hub = start_hub(&config);
    wait_live(ops).await;
    let client = client_with(&pki, &client_holder("case-management"));
    let idnp = population.persons()[0].idnp.expose().to_string();
    let response = client
        .post(format!("https://127.0.0.1:{api}/api/v1/exchanges"))
        .json(&async_body(&idnp, &idnp))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let id = body["exchangeId"].as_str().unwrap().to_string();
    let store = Store::connect(
        &SecretString::from(format!("sqlite://{}?mode=rwc", db.display())),
        2,
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if !store.dead_letters(10).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Act
    let listed = Command::new(HUB)
        .args(["queue", "dead-letters", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let replayed = Command::new(HUB)
        .args(["queue", "replay", "--operator", "fault-test", "--config"])
        .arg(&config)
        .arg(&id)
        .output()
        .unwrap();
    hub.kill().ok();
    hub.wait().ok();

    // Assert
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(listing.contains(&id), "{listing}");
    assert!(
        listing.contains("registry.unavailable after 5 attempts"),
        "{listing}"
    );
    assert!(!listing.contains(&idnp), "no IDNP in the listing");
    let output = String::from_utf8_lossy(&replayed.stdout);
    assert!(replayed.status.success(), "{output}");
    let replay: uuid::Uuid = output
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .expect("the replay's id");
    let record = store.exchange(replay).await.unwrap().unwrap();
    assert_eq!(record.parent_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn a_hub_killed_mid_load_finishes_every_accepted_exchange_after_restart() {
    // Arrange: a civil simulator in this process, the hub as a child process.
    let dir = tempfile::tempdir().unwrap();
    let (pki, population, civil) = civil_simulator(
        dir.path(),
        Behaviour {
            delay: Duration::from_millis(150),
            ..Behaviour::default()
        },
    );
    let db = dir.path().join("hub.db");
    let (api, ops) = (free_port(), free_port());
    let config = dir.path().join("hub.toml");
    // A production-length lease: the exchanges the killed hub held can finish within the
    // test's 30 s only if the restarted hub takes its own leases back at once.
    let settings =
        settings_toml(&pki, &db, api, ops, civil).replace("lease_ms = 1500", "lease_ms = 60000");
    std::fs::write(&config, settings).unwrap();
    let mut hub = start_hub(&config);
    wait_live(ops).await;
    let client = client_with(&pki, &client_holder("case-management"));
    let subjects: Vec<String> = population
        .persons()
        .iter()
        .take(40)
        .map(|p| p.idnp.expose().to_string())
        .collect();

    // Act: submit 40 async exchanges; kill -9 the hub after 20 were accepted.
    let mut accepted = Vec::new();
    for (index, idnp) in subjects.iter().enumerate() {
        if index == 20 {
            hub.kill().expect("SIGKILL the hub");
            hub.wait().unwrap();
            hub = start_hub(&config);
            wait_live(ops).await;
        }
        let body = async_body(idnp, &subjects[0]);
        let response = client
            .post(format!("https://127.0.0.1:{api}/api/v1/exchanges"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        let body: Value = response.json().await.unwrap();
        accepted.push(body["exchangeId"].as_str().unwrap().to_string());
    }

    // Assert: after the restart, every accepted exchange completes, once.
    let store = Store::connect(
        &SecretString::from(format!("sqlite://{}?mode=rwc", db.display())),
        2,
    )
    .await
    .unwrap();
    let mut in_progress = i64::MAX;
    for _ in 0..300 {
        in_progress = store
            .count_by_status(ExchangeStatus::InProgress)
            .await
            .unwrap();
        if in_progress == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    hub.kill().ok();
    hub.wait().ok();
    assert_eq!(in_progress, 0, "nothing stays in progress after the crash");
    for id in &accepted {
        let record = store
            .exchange(id.parse().unwrap())
            .await
            .unwrap()
            .expect("not lost");
        assert_eq!(record.status, ExchangeStatus::Completed, "{id}");
    }
    assert_eq!(
        store
            .count_by_status(ExchangeStatus::Completed)
            .await
            .unwrap(),
        accepted.len() as i64,
        "none lost, none extra"
    );
}

/// The tests that stop or freeze the shared broker take turns.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_broker_restarted_mid_load_loses_nothing() {
    if rabbit_url().is_none() {
        return;
    }
    let _broker = BROKER.lock().await;
    let restart = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/restart-rabbitmq.sh");
    let Some(app) = spawn_async_app(
        Backend::Rabbit,
        5,
        SpawnOptions {
            behaviour: Behaviour {
                delay: Duration::from_millis(50),
                ..Behaviour::default()
            },
            ..SpawnOptions::default()
        },
    )
    .await
    else {
        return;
    };

    // Act: submit while the broker restarts.
    let restarting = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(500));
        // Down for a few seconds, so that some submissions are surely refused.
        let output = Command::new("bash")
            .arg(restart)
            .env("ESOCIAL_RABBITMQ_DOWN_SECS", "3")
            .output()
            .expect("restart script runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    // Once the broker is back, the hub reconnects at its next attempt (backing off up to 10 s)
    // and submissions are accepted again: give that 40 s on a loaded machine.
    let mut back_by = None;
    loop {
        if restarting.is_finished() {
            let deadline =
                *back_by.get_or_insert_with(|| std::time::Instant::now() + Duration::from_secs(40));
            if accepted.len() >= 30 || std::time::Instant::now() > deadline {
                break;
            }
        }
        let key = uuid::Uuid::new_v4().to_string();
        let request = app.valid_request();
        let response = app.submit_async(&request, Some(&key)).await;
        match response.status().as_u16() {
            202 => {
                let body: Value = response.json().await.unwrap();
                accepted.push(body["exchangeId"].as_str().unwrap().to_string());
            }
            503 => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "hub.queue_unavailable");
                assert_eq!(body["retryable"], true);
                refused.push((key, request));
            }
            other => panic!("unexpected HTTP {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    restarting.await.unwrap();

    // A refused submission holds no key: retried with the same key once the broker is back,
    // as `retryable: true` invites, it is accepted afresh and runs.
    let refused_count = refused.len();
    assert!(
        refused_count > 0,
        "the broker was down, yet nothing was refused"
    );
    // A retry refused again (the broker still settling) ends as one more refused exchange.
    let mut refused_again = 0;
    for (key, request) in refused.iter().take(5) {
        let mut retried = None;
        for _ in 0..50 {
            let response = app.submit_async(request, Some(key)).await;
            if response.status() == 202 {
                retried = Some(response.json::<Value>().await.unwrap());
                break;
            }
            if response.status() == 503 {
                refused_again += 1;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let body = retried.expect("the broker came back and the retry was accepted");
        assert_eq!(body["repeated"], false, "{body}");
        accepted.push(body["exchangeId"].as_str().unwrap().to_string());
    }
    let refused = refused_count + refused_again;

    // Assert: every accepted exchange completes; refused ones ended as refused.
    for id in &accepted {
        let status = app.wait_until_ended(id).await;
        assert_eq!(status["status"], "completed", "{status}");
    }
    assert!(accepted.len() >= 30, "only {} accepted", accepted.len());
    app.assert_all_ended_once(accepted.len() + refused).await;
    eprintln!(
        "broker restart: {} accepted and completed, {refused} refused with 503",
        accepted.len()
    );
}

/// A frozen broker (SIGSTOP) holds its TCP connections open and answers nothing: a submission
/// must be refused within the publisher-confirm timeout, not hang, and the hub must take work
/// again once the broker thaws.
#[tokio::test]
async fn a_frozen_broker_gets_submissions_refused_in_bounded_time() {
    if rabbit_url().is_none() {
        return;
    }
    let _broker = BROKER.lock().await;
    let base = std::env::var("ESOCIAL_RABBITMQ_BASE").expect("the test script sets it");
    let pid = std::fs::read_to_string(Path::new(&base).join("rabbitmq.pid"))
        .expect("the broker's pid file")
        .trim()
        .to_string();
    let Some(app) = spawn_async_app(Backend::Rabbit, 3, SpawnOptions::default()).await else {
        return;
    };
    let first = app.submit_async(&app.valid_request(), None).await;
    assert_eq!(first.status(), 202);
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([format!("-{name}"), pid.clone()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    };

    // Act: freeze the broker and submit.
    signal("STOP");
    let started = std::time::Instant::now();
    let frozen = app.submit_async(&app.valid_request(), None).await;
    let waited = started.elapsed();
    let readiness = app.get_ops("/health/ready").await;
    let readiness_status = readiness.status().as_u16();
    let readiness: Value = readiness.json().await.unwrap();
    signal("CONT");
    assert_eq!(readiness_status, 503, "{readiness}");
    assert_eq!(readiness["checks"]["queue.rabbitmq"], "down", "{readiness}");

    // Assert: refused, retryable, within the confirm timeout (and some slack).
    assert_eq!(frozen.status(), 503);
    let body: Value = frozen.json().await.unwrap();
    assert_eq!(body["code"], "hub.queue_unavailable");
    assert!(
        waited < esocial_hub::queue::CONFIRM_TIMEOUT + Duration::from_secs(3),
        "a frozen broker held the caller {waited:?}"
    );
    let mut thawed = false;
    for _ in 0..100 {
        let response = app.submit_async(&app.valid_request(), None).await;
        if response.status() == 202 {
            let body: Value = response.json().await.unwrap();
            let status = app
                .wait_until_ended(body["exchangeId"].as_str().unwrap())
                .await;
            assert_eq!(status["status"], "completed", "{status}");
            thawed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(thawed, "the hub takes work again once the broker thaws");
}
