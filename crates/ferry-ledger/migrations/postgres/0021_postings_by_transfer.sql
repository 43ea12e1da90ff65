-- The statement of one account (issue 14's end-of-day report) reads a transfer's other
-- postings (its fee) by transfer.
CREATE INDEX postings_by_transfer ON postings (transfer_id);
