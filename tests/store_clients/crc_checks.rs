//! A consumer's `check_crcs`: by default a batch is checked the first time
//! the open log reads it, and trusted after; `EveryRead` checks every poll.

use std::time::Duration;

use seglog::store::LogStore;
use seglog::{ConsumerConfig, CrcCheck, Error, ProducerConfig, ProducerRecord, TopicPartition};

use crate::{earliest, mem_store};

/// Ten batches of three records in the sealed first segment of "t"-0.
fn fill(store: &LogStore) {
    store.create_topic("t", 1, &[]).unwrap();
    let producer = store.producer(ProducerConfig::default());
    for batch in 0..10 {
        for i in 0..3 {
            let record = ProducerRecord::new("t", format!("batch {batch} record {i}"));
            producer.send(record.with_partition(0)).unwrap();
        }
        producer.flush().unwrap();
    }
    store.partition("t", 0).unwrap().roll().unwrap();
}

/// Every value from the start, or the first error.
fn poll_all(store: &LogStore, config: ConsumerConfig) -> Result<Vec<Vec<u8>>, Error> {
    let mut consumer = store.consumer(config);
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    let mut values = Vec::new();
    while values.len() < 30 {
        let records = consumer.poll(Duration::ZERO)?;
        assert!(
            !records.is_empty(),
            "the records ran out at {}",
            values.len()
        );
        values.extend(records.into_iter().map(|r| r.value.unwrap()));
    }
    Ok(values)
}

#[test]
fn a_consumer_checks_a_batch_once_by_default_and_every_poll_when_asked() {
    let (fs, _clock, store) = mem_store();
    fill(&store);
    let every = ConsumerConfig {
        check_crcs: CrcCheck::EveryRead,
        ..earliest()
    };
    let expected = poll_all(&store, earliest()).unwrap();
    assert_eq!(expected.len(), 30);
    assert_eq!(expected[4], b"batch 1 record 1");
    // The second batch's producer epoch: a bit only its CRC covers. (Found
    // from the file's bytes: a reader would check the batch itself.)
    let path = store.partition("t", 0).unwrap().segments()[0].path.clone();
    let mut bytes = fs.read(&path).unwrap();
    let second = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes[second + 52] ^= 0x01;
    fs.write(&path, &bytes).unwrap();
    // Checked by the first consumer's polls: trusted.
    assert_eq!(poll_all(&store, earliest()).unwrap(), expected);
    match poll_all(&store, every) {
        Err(Error::Corrupt { position, .. }) => assert_eq!(position, second as u64),
        other => panic!("expected a corrupt batch, got {other:?}"),
    }
}
