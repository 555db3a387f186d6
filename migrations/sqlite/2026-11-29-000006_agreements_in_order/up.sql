-- The API's plain page of agreements is the account's, in id order: read in that order from the
-- index, it stops at its LIMIT instead of sorting every agreement of the account.
CREATE INDEX agreements_account_id ON agreements (account_id, id);
