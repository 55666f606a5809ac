package password

// HashRawForTest hashes plain without normalising it, as hashes were made before NFKC: tests of the
// fallback for those stored hashes need one.
func HashRawForTest(h *Hasher, plain string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	key, err := h.derive(plain, salt, h.params, h.params.KeyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}
