"""Use cases of sealed tendering, by concept: ``tenders`` (create, documents, publish, dates,
cancel, re-tender, registration), ``submission`` (submit, replace, withdraw, receipts,
inclusion proofs), ``opening`` (freeze at the deadline, the opening session, key shares,
the opening record)."""
