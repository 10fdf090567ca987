//! The follower's side: appending the leader's batches, truncating where
//! the logs diverge until they agree byte for byte (KIP-101/279), starting
//! over at the leader's log start, the follower's high watermark and log
//! start, the `Follower` driver and the wire form (KAFKA-REFERENCE 6.5).

mod common_repl;

use std::cell::Cell;

use common_repl::{bytes_below, epoch_entries, log_epochs, put, round, sync, Cluster, MAX_BYTES};
use seglog::replication::{
    EpochEndOffset, FetchError, FetchRequest, FetchResponse, Follower, ReplicatedPartition,
};
use seglog::Error;

/// Asserts `a` and `b` hold the same batches below `hw`, byte for byte.
fn assert_same_below(a: &ReplicatedPartition, b: &ReplicatedPartition, hw: u64) {
    let (x, y) = (bytes_below(a.log(), hw), bytes_below(b.log(), hw));
    assert!(!x.is_empty());
    assert_eq!(x, y, "replicas differ below {hw}");
}

#[test]
fn a_rejoining_leader_truncates_what_it_alone_had_and_converges() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    sync(&a, &b);
    // A writes more that B never gets, then crashes.
    put(&a, "y", 3);
    assert_eq!(a.log().log_end_offset(), 5);
    a.log().close().unwrap();
    // B leads epoch 2 and writes other records at the same offsets.
    b.become_leader(2, &[1, 2], &[2]).unwrap();
    put(&b, "z", 2);
    put(&b, "w", 2);
    assert_eq!(b.log().log_end_offset(), 6);

    let a = c.replica(1);
    assert_eq!(a.leader_epoch(), 1);
    a.become_follower(2, 2).unwrap();
    let first = round(&b, &a);
    assert_eq!(first.truncated_to, Some(2));
    assert!(first.complete);
    assert_eq!(a.log().log_end_offset(), 2);
    assert_eq!(epoch_entries(a.log()), [(1, 0)]);
    sync(&b, &a);
    assert_eq!(b.isr(), [2, 1]);
    assert_eq!(a.log().log_end_offset(), 6);
    assert_eq!(epoch_entries(a.log()), [(1, 0), (2, 2)]);
    assert_eq!(log_epochs(a.log()), [(0, 1), (2, 2), (4, 2)]);
    assert_eq!(b.high_watermark(), 6);
    assert_same_below(&a, &b, b.high_watermark());
    let values: Vec<_> = common_repl::values(a.log(), 0);
    assert_eq!(values, ["x0", "x1", "z0", "z1", "w0", "w1"]);
}

#[test]
fn truncation_takes_several_rounds_when_the_follower_lacks_the_leaders_epoch() {
    let c = Cluster::new(1);
    let (a, b, cc) = (c.replica(1), c.replica(2), c.replica(3));
    let all = [1, 2, 3];
    // Epoch 1: A leads, everyone gets x.
    a.become_leader(1, &all, &all).unwrap();
    b.become_follower(1, 1).unwrap();
    cc.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    for _ in 0..3 {
        round(&a, &b);
        round(&a, &cc);
    }
    assert_eq!(a.high_watermark(), 2);
    // Epoch 2: B leads, C gets y, A does not.
    b.become_leader(2, &all, &[2, 3]).unwrap();
    a.become_follower(2, 2).unwrap();
    cc.become_follower(2, 2).unwrap();
    put(&b, "y", 2);
    round(&b, &cc);
    // Epoch 3: A leads alone and writes w (an unclean election).
    a.become_leader(3, &all, &[1]).unwrap();
    put(&a, "w", 3);
    // Epoch 4: C leads and writes z.
    cc.become_leader(4, &all, &[3]).unwrap();
    put(&cc, "z", 2);
    assert_eq!(epoch_entries(cc.log()), [(1, 0), (2, 2), (4, 4)]);
    assert_eq!(epoch_entries(a.log()), [(1, 0), (3, 2)]);

    a.become_follower(4, 3).unwrap();
    // C never had epoch 3: epoch 2 ended at 4 there. A lacks epoch 2, so
    // it cuts back to where its epoch 1 ended and asks again.
    let first = round(&cc, &a);
    assert_eq!((first.truncated_to, first.complete), (Some(2), false));
    assert_eq!(epoch_entries(a.log()), [(1, 0)]);
    let second = round(&cc, &a);
    assert_eq!(second.truncated_to, None);
    assert_eq!(second.appended.map(|i| i.last_offset), Some(5));
    sync(&cc, &a);
    assert_eq!(epoch_entries(a.log()), epoch_entries(cc.log()));
    assert_eq!(a.log().log_end_offset(), 6);
    assert_same_below(&a, &cc, cc.high_watermark());
    assert_eq!(
        bytes_below(a.log(), u64::MAX),
        bytes_below(cc.log(), u64::MAX)
    );
}

#[test]
fn a_follower_behind_the_leaders_log_start_starts_over_there() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    sync(&a, &b);
    b.log().close().unwrap();
    // While B is away the leader moves on and drops its old records.
    c.advance(5_000);
    for prefix in ["p", "q", "r"] {
        put(&a, prefix, 2);
        a.log().roll().unwrap();
    }
    assert_eq!(a.maybe_shrink_isr().unwrap(), Some(vec![1]));
    assert_eq!(a.high_watermark(), 8);
    a.log().advance_log_start_offset(6).unwrap();
    let b = c.replica(2);
    b.become_follower(1, 1).unwrap();
    let first = round(&a, &b);
    assert_eq!(first.started_at, Some(6));
    assert_eq!(b.log().log_start_offset(), 6);
    assert_eq!(b.log().log_end_offset(), 6);
    assert!(b.log().leader_epoch_cache().is_empty());
    sync(&a, &b);
    assert_eq!(b.log().log_start_offset(), 6);
    assert_same_below(&a, &b, 8);
    assert_eq!(common_repl::values(b.log(), 6), ["r0", "r1"]);
}

#[test]
fn a_follower_ahead_of_a_leaders_shorter_log_truncates_to_its_end() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    b.become_follower(1, 1).unwrap();
    a.become_leader(1, &[1, 2], &[1]).unwrap();
    put(&a, "x", 2);
    put(&a, "y", 1);
    // B holds three records the leader (after an unclean election) does
    // not: its log ends at 2.
    b.log()
        .append_replicated(&bytes_below(a.log(), u64::MAX))
        .unwrap();
    a.log().truncate_to(2).unwrap();
    // An out-of-range answer showing the leader's end below B's.
    let response = FetchResponse {
        error: Some(FetchError::OffsetOutOfRange),
        leader_epoch: 1,
        log_end_offset: 2,
        ..FetchResponse::default()
    };
    let outcome = b.append_as_follower(&response).unwrap();
    assert_eq!(outcome.truncated_to, Some(2));
    assert_eq!(outcome.appended, None);
    assert_eq!(b.log().log_end_offset(), 2);
    assert_eq!(
        bytes_below(b.log(), u64::MAX),
        bytes_below(a.log(), u64::MAX)
    );
    // The leader's own answer now reads from there.
    let response = a.serve_fetch(&b.fetch_request(MAX_BYTES)).unwrap();
    assert_eq!((response.error, response.diverging_epoch), (None, None));
}

#[test]
fn a_follower_past_the_end_of_its_epoch_on_the_leader_truncates_there() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    b.become_follower(1, 1).unwrap();
    a.become_leader(1, &[1, 2], &[1]).unwrap();
    put(&a, "x", 2);
    put(&a, "y", 1);
    b.log()
        .append_replicated(&bytes_below(a.log(), u64::MAX))
        .unwrap();
    a.log().truncate_to(2).unwrap();
    let response = a.serve_fetch(&b.fetch_request(MAX_BYTES)).unwrap();
    assert_eq!(response.diverging_epoch, Some(EpochEndOffset::new(1, 2)));
    let outcome = b.append_as_follower(&response).unwrap();
    assert_eq!(outcome.truncated_to, Some(2));
    assert_eq!(b.log().log_end_offset(), 2);
}

#[test]
fn the_follower_hw_is_the_smaller_of_the_leaders_and_its_log_end() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1]).unwrap();
    b.become_follower(1, 1).unwrap();
    for prefix in ["p", "q", "r"] {
        put(&a, prefix, 2);
    }
    assert_eq!(a.high_watermark(), 6);
    // One batch a round.
    let response = a.serve_fetch(&b.fetch_request(1)).unwrap();
    let outcome = b.append_as_follower(&response).unwrap();
    assert_eq!(outcome.high_watermark, 2);
    assert_eq!(b.high_watermark(), 2);
    let response = a.serve_fetch(&b.fetch_request(1)).unwrap();
    b.append_as_follower(&response).unwrap();
    assert_eq!(b.high_watermark(), 4);
    sync(&a, &b);
    assert_eq!(b.high_watermark(), 6);
    // Consumers of the follower read below its own high watermark.
    assert_eq!(b.read(0, MAX_BYTES).unwrap().records().count(), 6);
}

#[test]
fn the_follower_log_start_follows_the_leaders() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    a.log().roll().unwrap();
    put(&a, "y", 2);
    sync(&a, &b);
    assert_eq!(b.log().log_start_offset(), 0);
    a.log().advance_log_start_offset(2).unwrap();
    round(&a, &b);
    assert_eq!(b.log().log_start_offset(), 2);
    assert_eq!(epoch_entries(b.log()), [(1, 2)]);
}

#[test]
fn a_follower_refuses_answers_from_another_epoch_or_with_errors() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(2, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(2, 1).unwrap();
    put(&a, "x", 1);
    let good = a.serve_fetch(&b.fetch_request(MAX_BYTES)).unwrap();
    let at = |epoch| FetchResponse {
        leader_epoch: epoch,
        ..good.clone()
    };
    assert!(matches!(
        b.append_as_follower(&at(1)),
        Err(Error::Fenced {
            epoch: 1,
            current: 2
        })
    ));
    assert!(matches!(
        b.append_as_follower(&at(3)),
        Err(Error::UnknownLeaderEpoch {
            epoch: 3,
            current: 2
        })
    ));
    let with = |error| FetchResponse {
        error: Some(error),
        records: Vec::new(),
        ..good.clone()
    };
    assert!(matches!(
        b.append_as_follower(&with(FetchError::NotLeaderOrFollower)),
        Err(Error::NotLeader { leader: Some(1) })
    ));
    assert!(matches!(
        b.append_as_follower(&with(FetchError::FencedLeaderEpoch)),
        Err(Error::Fenced { .. })
    ));
    assert!(matches!(
        b.append_as_follower(&with(FetchError::UnknownLeaderEpoch)),
        Err(Error::UnknownLeaderEpoch { .. })
    ));
    assert_eq!(b.log().log_end_offset(), 0, "nothing refused was applied");
    b.append_as_follower(&good).unwrap();
    assert_eq!(b.log().log_end_offset(), 1);
}

#[test]
fn a_follower_without_epochs_truncates_to_its_hw_first() {
    let c = Cluster::new(1);
    let b = c.replica(2);
    // Records with no leader epoch (-1), as an old producer's.
    let batch = seglog::record::BatchBuilder::new()
        .build(&[
            seglog::Record::new("a").with_timestamp(1_000),
            seglog::Record::new("b").with_timestamp(1_000),
        ])
        .unwrap();
    b.log().append_replicated(&batch).unwrap();
    assert!(b.log().leader_epoch_cache().is_empty());
    assert_eq!(b.high_watermark(), 0);
    b.become_follower(1, 1).unwrap();
    assert_eq!(b.log().log_end_offset(), 0);
}

#[test]
fn the_follower_driver_catches_up() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    for prefix in ["p", "q", "r", "s"] {
        put(&a, prefix, 2);
    }
    let calls = Cell::new(0);
    let link = |request: &FetchRequest| {
        calls.set(calls.get() + 1);
        a.serve_fetch(request)
    };
    let mut follower = Follower::new(b.clone(), link).with_max_bytes(1);
    assert!(!follower.catch_up(2).unwrap());
    assert_eq!(b.log().log_end_offset(), 4);
    assert!(follower.catch_up(10).unwrap());
    assert_eq!(b.log().log_end_offset(), 8);
    let round = follower.fetch_once().unwrap();
    assert!(round.caught_up);
    assert_eq!(round.leader_log_end_offset, 8);
    assert_eq!(round.applied.appended, None);
    drop(follower);
    assert_eq!(a.high_watermark(), 8);
    assert!(calls.get() >= 5);

    // The link's failures come back as they are.
    let failing = |_: &FetchRequest| Err(Error::NotLeader { leader: None });
    let mut follower = Follower::new(b.clone(), failing);
    assert!(matches!(
        follower.catch_up(3),
        Err(Error::NotLeader { leader: None })
    ));
}

#[test]
fn the_follower_driver_runs_over_the_wire_form() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 3);
    let link = |request: &FetchRequest| {
        let request = FetchRequest::decode(&request.encode())?;
        FetchResponse::decode(&a.serve_fetch(&request)?.encode()?)
    };
    let mut follower = Follower::new(b.clone(), link);
    assert!(follower.catch_up(5).unwrap());
    follower.fetch_once().unwrap();
    assert_eq!(b.high_watermark(), 3);
    assert_same_below(&a, &b, 3);
}

#[test]
fn the_wire_form_round_trips() {
    for request in [
        FetchRequest {
            replica: 2,
            fetch_offset: 100,
            log_start_offset: 7,
            last_fetched_epoch: Some(3),
            current_leader_epoch: Some(4),
            max_bytes: 1 << 20,
            max_wait_ms: 500,
        },
        FetchRequest {
            replica: -5,
            fetch_offset: u64::MAX,
            log_start_offset: 0,
            last_fetched_epoch: None,
            current_leader_epoch: None,
            max_bytes: 0,
            max_wait_ms: u64::MAX,
        },
    ] {
        assert_eq!(FetchRequest::decode(&request.encode()).unwrap(), request);
    }
    for response in [
        FetchResponse {
            error: None,
            leader_epoch: 9,
            high_watermark: 40,
            log_start_offset: 3,
            log_end_offset: 50,
            diverging_epoch: Some(EpochEndOffset::new(7, 33)),
            records: b"some bytes".to_vec(),
        },
        FetchResponse {
            error: Some(FetchError::UnknownLeaderEpoch),
            leader_epoch: -1,
            ..FetchResponse::default()
        },
    ] {
        assert_eq!(
            FetchResponse::decode(&response.encode().unwrap()).unwrap(),
            response
        );
    }
    for error in [
        FetchError::OffsetOutOfRange,
        FetchError::NotLeaderOrFollower,
        FetchError::FencedLeaderEpoch,
        FetchError::UnknownLeaderEpoch,
    ] {
        assert_eq!(FetchError::from_code(error.code()), Some(error));
    }
    assert_eq!(FetchError::from_code(0), None);
}

#[test]
fn the_wire_form_rejects_garbage() {
    let request = FetchRequest {
        replica: 2,
        fetch_offset: 1,
        log_start_offset: 0,
        last_fetched_epoch: Some(1),
        current_leader_epoch: Some(1),
        max_bytes: 10,
        max_wait_ms: 0,
    }
    .encode();
    let invalid = |r: Result<FetchRequest, Error>| matches!(r, Err(Error::InvalidRecord { .. }));
    assert!(invalid(FetchRequest::decode(&[])));
    assert!(invalid(FetchRequest::decode(&request[..request.len() - 1])));
    let mut longer = request.clone();
    longer.push(0);
    assert!(invalid(FetchRequest::decode(&longer)));
    let mut version = request.clone();
    version[0] = 1;
    assert!(invalid(FetchRequest::decode(&version)));

    let response = FetchResponse {
        leader_epoch: 1,
        records: vec![1, 2, 3],
        ..FetchResponse::default()
    }
    .encode()
    .unwrap();
    let invalid = |r: Result<FetchResponse, Error>| matches!(r, Err(Error::InvalidRecord { .. }));
    assert!(invalid(FetchResponse::decode(&[])));
    assert!(invalid(FetchResponse::decode(
        &response[..response.len() - 1]
    )));
    let mut longer = response.clone();
    longer.push(0);
    assert!(invalid(FetchResponse::decode(&longer)));
    let mut code = response.clone();
    code[1..3].copy_from_slice(&999i16.to_be_bytes());
    assert!(invalid(FetchResponse::decode(&code)));
    // A records length past the end.
    let mut len = response.clone();
    let at = len.len() - 3 - 4;
    len[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(invalid(FetchResponse::decode(&len)));
    let mut version = response;
    version[0] = 7;
    assert!(invalid(FetchResponse::decode(&version)));
}

#[test]
fn garbage_records_from_a_leader_are_refused() {
    let c = Cluster::new(1);
    let b = c.replica(2);
    b.become_follower(1, 1).unwrap();
    let response = FetchResponse {
        leader_epoch: 1,
        high_watermark: 5,
        log_end_offset: 5,
        records: vec![0xAB; 80],
        ..FetchResponse::default()
    };
    assert!(b.append_as_follower(&response).is_err());
    assert_eq!(b.log().log_end_offset(), 0);
    assert_eq!(b.high_watermark(), 0);
}

#[test]
fn a_response_applied_twice_is_refused_the_second_time() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    let response = a.serve_fetch(&b.fetch_request(MAX_BYTES)).unwrap();
    b.append_as_follower(&response).unwrap();
    let before = bytes_below(b.log(), u64::MAX);
    assert!(b.append_as_follower(&response).is_err());
    assert_eq!(b.log().log_end_offset(), 2);
    assert_eq!(bytes_below(b.log(), u64::MAX), before);
}

#[test]
fn a_truncation_inside_a_batch_reports_where_the_log_ends() {
    let c = Cluster::new(1);
    let a = c.replica(1);
    let b = c.replica(2);
    b.become_follower(1, 1).unwrap();
    a.become_leader(1, &[1], &[1]).unwrap();
    put(&a, "x", 2);
    b.log()
        .append_replicated(&bytes_below(a.log(), u64::MAX))
        .unwrap();
    // A leader's log that ends inside B's only batch (an unclean
    // election's): the batch goes whole.
    let response = FetchResponse {
        error: Some(FetchError::OffsetOutOfRange),
        leader_epoch: 1,
        log_end_offset: 1,
        ..FetchResponse::default()
    };
    let outcome = b.append_as_follower(&response).unwrap();
    assert_eq!(b.log().log_end_offset(), 0);
    assert_eq!(outcome.truncated_to, Some(0));
}

#[test]
fn the_follower_driver_runs_until_stopped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let c = Cluster::new(2);
    let a = c.replica(1);
    let b = c.replica(2);
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (a, b, stop) = (a.clone(), b.clone(), stop.clone());
        std::thread::spawn(move || {
            let link = move |request: &FetchRequest| a.serve_fetch(request);
            Follower::new(b, link).run(&stop, Duration::from_millis(1))
        })
    };
    // acks=all completes through the running follower.
    let info = a
        .append(
            &common_repl::records("x", 3),
            seglog::replication::Acks::All,
        )
        .unwrap()
        .wait(Duration::from_secs(30))
        .unwrap();
    assert_eq!(info.last_offset, 2);
    stop.store(true, Ordering::Release);
    runner.join().unwrap().unwrap();
    assert_eq!(b.log().log_end_offset(), 3);
}

#[test]
fn an_epoch_led_without_writing_is_dropped_when_the_leader_never_had_it() {
    let c = Cluster::new(1);
    let (a, b) = (c.replica(1), c.replica(2));
    // Epoch 1: A leads and B gets x.
    a.become_leader(1, &[1, 2], &[1, 2]).unwrap();
    b.become_follower(1, 1).unwrap();
    put(&a, "x", 2);
    sync(&a, &b);
    // Epoch 2: B leads and writes y, which A never fetches.
    b.become_leader(2, &[1, 2], &[2]).unwrap();
    a.become_follower(2, 2).unwrap();
    put(&b, "y", 2);
    // Epoch 3: A leads but writes nothing; its cache says epoch 3 starts
    // at its end, 2.
    a.become_leader(3, &[1, 2], &[1]).unwrap();
    assert_eq!(epoch_entries(a.log()), [(1, 0), (3, 2)]);
    // Epoch 4: B leads again and writes z.
    b.become_leader(4, &[1, 2], &[2]).unwrap();
    put(&b, "z", 2);
    a.become_follower(4, 2).unwrap();
    // B never had epoch 3: A has nothing to cut, but its epoch 3 entry
    // must go, or it would ask about epoch 3 for ever.
    let first = round(&b, &a);
    assert!(!first.complete);
    assert_eq!(epoch_entries(a.log()), [(1, 0)]);
    let mut follower = Follower::new(a.clone(), |r: &FetchRequest| b.serve_fetch(r));
    assert!(follower.catch_up(5).unwrap());
    assert_eq!(epoch_entries(a.log()), epoch_entries(b.log()));
    assert_eq!(
        bytes_below(a.log(), u64::MAX),
        bytes_below(b.log(), u64::MAX)
    );
}
