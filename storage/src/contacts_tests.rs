use std::path::Path;

use super::*;
use crate::StorageConfig;

fn open(dir: &Path) -> Storage {
    Storage::open(dir, &StorageConfig::default()).unwrap()
}

fn contact(id: u64, name: &str, email: Option<&str>, phone: Option<&str>) -> ContactRecord {
    ContactRecord {
        v: 1,
        id,
        name: name.into(),
        email: email.map(Into::into),
        phone: phone.map(Into::into),
        company: None,
        notes: None,
        created_at_ms: id,
        updated_at_ms: id,
    }
}

fn put(storage: &Storage, records: &[ContactRecord]) {
    let mut batch = Batch::new();
    for record in records {
        batch.put_contact(record, None);
    }
    storage.write_blocking(batch).unwrap();
}

#[test]
fn terms() {
    assert_eq!(email_term("  Ada@Example.COM "), "ada@example.com");
    assert_eq!(phone_term("+44 20 7946-0000"), "442079460000");
    assert_eq!(name_terms("Mary-Jane  O'Brien mary"), vec!["brien", "jane", "mary", "o"]);
    assert_eq!(name_terms("Zoë ÅSTRÖM"), vec!["zoë", "åström"]);
    assert_eq!(ContactIndex::Name.term(" ADA "), "ada");
    assert_eq!(ContactIndex::Phone.term("(020)"), "020");
}

#[test]
fn lookups_by_each_index() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    put(
        &storage,
        &[
            contact(1, "Ada Lovelace", Some("Ada@Example.com"), Some("+44 20 7946-0000")),
            contact(2, "Adam Smith", Some("adam@example.org"), None),
            contact(3, "Grace Hopper", None, Some("+1 (212) 555-0100")),
        ],
    );
    let ids = |index, prefix: &str| storage.contact_ids(index, prefix, 10).unwrap();
    assert_eq!(ids(ContactIndex::Name, "ad"), vec![1, 2]);
    assert_eq!(ids(ContactIndex::Name, "ADA"), vec![1, 2]);
    assert_eq!(ids(ContactIndex::Name, "love"), vec![1]);
    assert_eq!(ids(ContactIndex::Name, "smithy"), Vec::<u64>::new());
    assert_eq!(ids(ContactIndex::Email, "ada@"), vec![1]);
    assert_eq!(ids(ContactIndex::Email, "ADA"), vec![1, 2]);
    assert_eq!(ids(ContactIndex::Phone, "+44 20"), vec![1]);
    assert_eq!(ids(ContactIndex::Phone, "1 212"), vec![3]);
    assert_eq!(ids(ContactIndex::Phone, "-"), Vec::<u64>::new());
    assert_eq!(ids(ContactIndex::Name, ""), Vec::<u64>::new());
    assert_eq!(storage.contact_ids(ContactIndex::Name, "a", 1).unwrap(), vec![1]);
    assert_eq!(storage.contact_by_email(" ADA@example.COM").unwrap(), Some(1));
    assert_eq!(storage.contact_by_email("ada@example.co").unwrap(), None);
    assert_eq!(storage.contact_by_email("").unwrap(), None);
}

#[test]
fn a_change_moves_its_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let old = contact(1, "Ada Lovelace", Some("ada@example.com"), Some("0123"));
    put(&storage, &[old.clone()]);
    let new = ContactRecord {
        name: "Ada King".into(),
        email: Some("countess@example.com".into()),
        phone: None,
        ..old.clone()
    };
    let mut batch = Batch::new();
    batch.put_contact(&new, Some(&old));
    storage.write_blocking(batch).unwrap();
    assert_eq!(storage.contact(1).unwrap(), Some(new));
    assert_eq!(storage.contact_by_email("ada@example.com").unwrap(), None);
    assert_eq!(storage.contact_by_email("countess@example.com").unwrap(), Some(1));
    assert_eq!(storage.contact_ids(ContactIndex::Name, "love", 10).unwrap(), Vec::<u64>::new());
    // A word in both versions stays indexed (deleted, then put again in the same batch).
    assert_eq!(storage.contact_ids(ContactIndex::Name, "ada", 10).unwrap(), vec![1]);
    assert_eq!(storage.contact_ids(ContactIndex::Name, "king", 10).unwrap(), vec![1]);
    assert_eq!(storage.contact_ids(ContactIndex::Phone, "0", 10).unwrap(), Vec::<u64>::new());
}

#[test]
fn pages_by_id_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        let all: Vec<ContactRecord> = (1..=5).map(|id| contact(id, &format!("C{id}"), None, None)).collect();
        put(&storage, &all);
        storage.close();
    }
    let storage = open(dir.path());
    let page = |after, limit| -> Vec<u64> {
        storage.contacts(after, limit).unwrap().into_iter().map(|c| c.id).collect()
    };
    assert_eq!(page(0, 2), vec![1, 2]);
    assert_eq!(page(2, 2), vec![3, 4]);
    assert_eq!(page(4, 10), vec![5]);
    assert_eq!(page(5, 10), Vec::<u64>::new());
    assert_eq!(page(u64::MAX, 10), Vec::<u64>::new());
    assert_eq!(storage.max_id(catalog::CONTACT).unwrap(), 5);
    assert_eq!(storage.contact_ids(ContactIndex::Name, "c3", 10).unwrap(), vec![3]);
}
