package katalog

// Load reads and strictly parses a Katalog file. err is non-nil only when the
// file cannot be read; every schema problem is returned in errs (all of them,
// not the first), and f is as complete as the input allows.
func Load(path string) (f *File, errs []*SchemaError, err error) {
	panic("katalog: not implemented")
}

// Parse strictly parses Katalog bytes; name is used in positions.
func Parse(name string, data []byte) (*File, []*SchemaError) {
	panic("katalog: not implemented")
}
