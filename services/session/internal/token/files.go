package token

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LoadVerificationKeys reads the verification-only keys of a file-based keyring
// (JWT_VERIFICATION_KEY_FILES): each path is a PEM file or a directory whose every visible file is one
// (Kubernetes' "..data" entries of a mounted Secret are skipped). A file holds an Ed25519 public key
// ("BEGIN PUBLIC KEY", as `openssl pkey -pubout` writes it) or a private key in PKCS#8, of which only
// the public half is used. Errors name the file, never its contents.
func LoadVerificationKeys(paths []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, path := range paths {
		files, err := keyFiles(path)
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			pub, err := loadPublicPEM(file)
			if err != nil {
				return nil, err
			}
			keys = append(keys, pub)
		}
	}
	return keys, nil
}

// keyFiles is path itself, or the visible regular files of the directory path, sorted by name.
func keyFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("verification key directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(path, e.Name())
		// Stat, not the entry's type: a mounted Secret's files are symlinks into "..data".
		if fst, err := os.Stat(file); err == nil && fst.Mode().IsRegular() {
			files = append(files, file)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("verification key directory %s holds no key file", path)
	}
	slices.Sort(files)
	return files, nil
}

// loadPublicPEM reads an Ed25519 public key, or the public half of an Ed25519 private key, from a PEM
// file.
func loadPublicPEM(path string) (ed25519.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read verification key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("verification key %s: no PEM block", path)
	}
	var parsed any
	switch block.Type {
	case "PUBLIC KEY":
		parsed, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("verification key %s: want a PEM block of type PUBLIC KEY or PRIVATE KEY, got %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("verification key %s: %w", path, err)
	}
	switch k := parsed.(type) {
	case ed25519.PublicKey:
		return k, nil
	case ed25519.PrivateKey:
		return k.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("verification key %s: want an Ed25519 key, got %T", path, parsed)
}
