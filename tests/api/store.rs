//! The exchange log behaves the same on SQLite and PostgreSQL: one terminal state per
//! exchange, and exchanges interrupted by a crash are closed at start-up.

use esocial_store::{
    Closing, ExchangeOutcome, ExchangeStatus, MessageIds, NewExchange, SeenMessage, Store,
};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::postgres::fresh_postgres_database;

fn new_exchange() -> NewExchange {
    NewExchange {
        id: uuid::Uuid::new_v4(),
        direction: Default::default(),
        parent_id: None,
        client_id: "case-management".into(),
        service: "civil.person-details".into(),
        legal_basis: "Legea nr. 123/2010, art. 12".into(),
        reason: "Evaluare".into(),
        case_id: None,
        calling_user_digest: "a".repeat(64),
        subject_digest: "b".repeat(64),
        sealed_identifiers: None,
        received_at: OffsetDateTime::now_utc(),
    }
}

async fn an_exchange_ends_exactly_once(store: &Store) {
    let exchange = new_exchange();
    store.begin_exchange(&exchange).await.unwrap();
    let completed = ExchangeOutcome::Completed {
        request_digest: "c".repeat(64),
        response_digest: "d".repeat(64),
        message_ids: MessageIds {
            request: Some("m-0".into()),
            response: Some("m-1".into()),
        },
        fields_released: None,
    };
    let failed = ExchangeOutcome::Failed {
        error_code: "registry.timeout".into(),
        request_digest: None,
        response_digest: None,
        message_ids: MessageIds::default(),
    };

    let first = store
        .finish_exchange(exchange.id, &completed, None, OffsetDateTime::now_utc())
        .await;
    let second = store
        .finish_exchange(exchange.id, &failed, None, OffsetDateTime::now_utc())
        .await;

    assert_eq!(
        first.unwrap(),
        Closing::Closed,
        "the first terminal state is recorded"
    );
    assert_eq!(
        second.unwrap(),
        Closing::AlreadyClosed,
        "a second terminal state is refused"
    );
    let record = store.exchange(exchange.id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::Completed);
    assert_eq!(record.error_code, None);
    assert_eq!(record.message_ids.request.as_deref(), Some("m-0"));
    assert_eq!(record.message_ids.response.as_deref(), Some("m-1"));
    let (entry, _) = store
        .audit_entry(&exchange.id.to_string())
        .await
        .unwrap()
        .expect("the end of the exchange is audited");
    assert_eq!(
        entry.outcome, "completed",
        "the refused second end left no entry"
    );
    assert_eq!(entry.kind, "exchange.outbound");
}

/// An answer whose message id its signer used before cannot close an exchange: nothing of
/// that close is written, the exchange stays in progress to be failed for it, and a close
/// that was refused leaves the id as it was.
async fn a_replayed_answer_cannot_close_an_exchange(store: &Store) {
    let (first, second) = (new_exchange(), new_exchange());
    store.begin_exchange(&first).await.unwrap();
    store.begin_exchange(&second).await.unwrap();
    let answer = SeenMessage {
        sender: "registry-civil".into(),
        message_id: uuid::Uuid::new_v4().to_string(),
        expires_at_ms: esocial_store::now_millis() + 60_000,
    };
    let completed = ExchangeOutcome::Completed {
        request_digest: "c".repeat(64),
        response_digest: "d".repeat(64),
        message_ids: MessageIds::default(),
        fields_released: None,
    };
    let now = OffsetDateTime::now_utc;

    let closed = store
        .finish_exchange(first.id, &completed, Some(&answer), now())
        .await;
    let replayed = store
        .finish_exchange(second.id, &completed, Some(&answer), now())
        .await;

    assert_eq!(closed.unwrap(), Closing::Closed);
    assert_eq!(replayed.unwrap(), Closing::Replayed);
    let record = store.exchange(second.id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::InProgress);
    assert!(
        store
            .audit_entry(&second.id.to_string())
            .await
            .unwrap()
            .is_none(),
        "the refused close left no audit entry"
    );
    let failed = completed.as_failed("registry.replayed_answer");
    assert_eq!(
        store
            .finish_exchange(second.id, &failed, None, now())
            .await
            .unwrap(),
        Closing::Closed
    );
    assert!(
        !store
            .remember_message(&answer.sender, &answer.message_id, answer.expires_at_ms)
            .await
            .unwrap(),
        "the id stays remembered from the first close"
    );
    let again = store
        .finish_exchange(first.id, &failed, Some(&answer), now())
        .await;
    assert_eq!(
        again.unwrap(),
        Closing::AlreadyClosed,
        "an exchange that ended is not taken for a replay"
    );
}

async fn interrupted_exchanges_are_failed_at_start_up(store: &Store) {
    let interrupted = new_exchange();
    let finished = new_exchange();
    store.begin_exchange(&interrupted).await.unwrap();
    store.begin_exchange(&finished).await.unwrap();
    let failed = ExchangeOutcome::Failed {
        error_code: "caller.subject_not_found".into(),
        request_digest: Some("c".repeat(64)),
        response_digest: Some("d".repeat(64)),
        message_ids: MessageIds::default(),
    };
    store
        .finish_exchange(finished.id, &failed, None, OffsetDateTime::now_utc())
        .await
        .unwrap();

    let closed = store.fail_interrupted_exchanges().await.unwrap();

    assert_eq!(closed, 1);
    let record = store.exchange(interrupted.id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::Failed);
    assert_eq!(record.error_code.as_deref(), Some("hub.interrupted"));
    let (entry, _) = store
        .audit_entry(&interrupted.id.to_string())
        .await
        .unwrap()
        .expect("an interrupted exchange is audited too");
    assert_eq!(entry.error_code.as_deref(), Some("hub.interrupted"));
    let untouched = store.exchange(finished.id).await.unwrap().unwrap();
    assert_eq!(
        untouched.error_code.as_deref(),
        Some("caller.subject_not_found")
    );
    assert_eq!(
        store
            .count_by_status(ExchangeStatus::InProgress)
            .await
            .unwrap(),
        0
    );
}

async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
    (
        Store::connect(&SecretString::from(url), 2).await.unwrap(),
        dir,
    )
}

async fn postgres_store() -> Option<Store> {
    let url = fresh_postgres_database().await?;
    Some(Store::connect(&SecretString::from(url), 2).await.unwrap())
}

#[tokio::test]
async fn sqlite_an_exchange_ends_exactly_once() {
    let (store, _dir) = sqlite_store().await;
    an_exchange_ends_exactly_once(&store).await;
}

#[tokio::test]
async fn sqlite_a_replayed_answer_cannot_close_an_exchange() {
    let (store, _dir) = sqlite_store().await;
    a_replayed_answer_cannot_close_an_exchange(&store).await;
}

#[tokio::test]
async fn postgres_a_replayed_answer_cannot_close_an_exchange() {
    if let Some(store) = postgres_store().await {
        a_replayed_answer_cannot_close_an_exchange(&store).await;
    }
}

#[tokio::test]
async fn sqlite_interrupted_exchanges_are_failed_at_start_up() {
    let (store, _dir) = sqlite_store().await;
    interrupted_exchanges_are_failed_at_start_up(&store).await;
}

#[tokio::test]
async fn postgres_an_exchange_ends_exactly_once() {
    if let Some(store) = postgres_store().await {
        an_exchange_ends_exactly_once(&store).await;
    }
}

#[tokio::test]
async fn postgres_interrupted_exchanges_are_failed_at_start_up() {
    if let Some(store) = postgres_store().await {
        interrupted_exchanges_are_failed_at_start_up(&store).await;
    }
}

#[tokio::test]
async fn migrations_are_idempotent_across_restarts() {
    let (store, dir) = sqlite_store().await;
    let exchange = new_exchange();
    store.begin_exchange(&exchange).await.unwrap();
    drop(store);
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());

    let reopened = Store::connect(&SecretString::from(url), 2).await.unwrap();

    assert!(reopened.exchange(exchange.id).await.unwrap().is_some());
}

/// Two connections to one database stand for a restarted hub, or two replicas: a message id
/// one remembered, the other refuses; another sender may use the same id; an expired entry
/// is swept.
async fn message_ids_are_remembered_across_connections(url: String) {
    let first = Store::connect(&SecretString::from(url.clone()), 2)
        .await
        .unwrap();
    let second = Store::connect(&SecretString::from(url), 2).await.unwrap();
    let later = esocial_store::now_millis() + 60_000;

    assert!(
        first
            .remember_message("agency-police", "m-1", later)
            .await
            .unwrap()
    );
    assert!(
        !second
            .remember_message("agency-police", "m-1", later)
            .await
            .unwrap()
    );
    assert!(
        second
            .remember_message("agency-school", "m-1", later)
            .await
            .unwrap()
    );

    let past = esocial_store::now_millis() - 1;
    assert!(
        first
            .remember_message("agency-police", "m-2", past)
            .await
            .unwrap()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    // Kept at least until it was remembered, then swept by the next insert.
    assert!(
        second
            .remember_message("agency-police", "m-3", later)
            .await
            .unwrap()
    );
    assert!(
        first
            .remember_message("agency-police", "m-2", later)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn sqlite_message_ids_are_remembered_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
    message_ids_are_remembered_across_connections(url).await;
}

#[tokio::test]
async fn postgres_message_ids_are_remembered_across_connections() {
    if let Some(url) = fresh_postgres_database().await {
        message_ids_are_remembered_across_connections(url).await;
    }
}

/// A submission whose publisher confirm never came is refused only while no worker has it: a
/// worker that took the message meanwhile (the broker had it after all) keeps the exchange,
/// and the registry is not called for an exchange the caller was told was refused.
async fn a_submission_a_worker_already_took_is_not_refused(store: &Store) {
    let submit = |key: &str| esocial_store::NewAsyncExchange {
        exchange: new_exchange(),
        registry: "civil".into(),
        idempotency_key: Some(key.into()),
        submission_digest: "d".repeat(64),
        sealed_request: "sealed".into(),
        callback_url: None,
        taken: None,
    };
    let (untouched, taken) = (submit("k-untouched"), submit("k-taken"));
    for submission in [&untouched, &taken] {
        store.submit_async(submission).await.unwrap();
    }
    let claimed = store
        .claim(taken.exchange.id, 60_000, "hub-a")
        .await
        .unwrap();
    assert!(claimed.is_some());

    let refused_untouched = store
        .refuse_submission(untouched.exchange.id)
        .await
        .unwrap();
    let refused_taken = store.refuse_submission(taken.exchange.id).await.unwrap();

    assert!(
        refused_untouched,
        "nobody had it: refused, and its key released"
    );
    assert!(!refused_taken, "a worker has it: it stays accepted");
    let record = store.exchange(taken.exchange.id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::InProgress);
    let record = store
        .exchange(untouched.exchange.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.error_code.as_deref(), Some("hub.queue_unavailable"));
}

#[tokio::test]
async fn sqlite_a_submission_a_worker_already_took_is_not_refused() {
    let (store, _dir) = sqlite_store().await;
    a_submission_a_worker_already_took_is_not_refused(&store).await;
}

#[tokio::test]
async fn postgres_a_submission_a_worker_already_took_is_not_refused() {
    if let Some(store) = postgres_store().await {
        a_submission_a_worker_already_took_is_not_refused(&store).await;
    }
}

/// A submission stored already taken (a worker of this hub was free for it) is not claimed by
/// another worker while its lease runs, and is claimed again, as its second attempt, once the
/// lease has run out.
async fn a_submission_stored_taken_is_claimed_only_after_its_lease(store: &Store) {
    let submit = |until: i64| esocial_store::NewAsyncExchange {
        exchange: new_exchange(),
        registry: "civil".into(),
        idempotency_key: None,
        submission_digest: "d".repeat(64),
        sealed_request: "sealed".into(),
        callback_url: None,
        taken: Some(esocial_store::Lease {
            holder: "hub-a".into(),
            until,
        }),
    };
    let now = esocial_store::now_millis();
    let (held, expired) = (submit(now + 60_000), submit(now - 1));
    for submission in [&held, &expired] {
        store.submit_async(submission).await.unwrap();
    }
    let record = store.exchange(held.exchange.id).await.unwrap().unwrap();
    assert_eq!(record.status, ExchangeStatus::InProgress);
    assert_eq!(
        record.attempts, 1,
        "the first attempt is counted when taken"
    );

    let claimed = store.claim_due("civil", 10, 60_000, "hub-b").await.unwrap();

    let ids: Vec<_> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        vec![expired.exchange.id],
        "only the one whose lease ran out"
    );
    assert_eq!(claimed[0].attempts, 2);
    assert!(
        store
            .claim(held.exchange.id, 60_000, "hub-b")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn sqlite_a_submission_stored_taken_is_claimed_only_after_its_lease() {
    let (store, _dir) = sqlite_store().await;
    a_submission_stored_taken_is_claimed_only_after_its_lease(&store).await;
}

#[tokio::test]
async fn postgres_a_submission_stored_taken_is_claimed_only_after_its_lease() {
    if let Some(store) = postgres_store().await {
        a_submission_stored_taken_is_claimed_only_after_its_lease(&store).await;
    }
}
