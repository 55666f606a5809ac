package activity

// CollAccounts exposes the account collection's name to the tests, which check it against the store's.
const CollAccounts = collAccounts
