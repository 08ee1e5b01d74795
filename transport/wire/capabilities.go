package wire

// CapabilitiesRequest  { version: u32 }
// CapabilitiesResponse { version: u32, features: Vec<String> }

// Size returns the exact length of the request's bincode encoding.
func (m *CapabilitiesRequest) Size() int { return 4 }

// Append appends the request's bincode encoding to b.
func (m *CapabilitiesRequest) Append(b []byte) []byte { return appendU32(b, m.Version) }

// Unmarshal decodes exactly one CapabilitiesRequest from b. On error, a
// *DecodeError, m is unchanged.
func (m *CapabilitiesRequest) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "CapabilitiesRequest"}
	v, err := r.u32("version")
	if err == nil {
		err = r.finish()
	}
	if err != nil {
		return err
	}
	m.Version = v
	return nil
}

// Size returns the exact length of the response's bincode encoding.
func (m *CapabilitiesResponse) Size() int { return 4 + stringsSize(m.Features) }

// Append appends the response's bincode encoding to b.
func (m *CapabilitiesResponse) Append(b []byte) []byte {
	b = appendU32(b, m.Version)
	return appendStrings(b, m.Features)
}

// Unmarshal decodes exactly one CapabilitiesResponse from b; an empty
// feature list decodes as nil. On error, a *DecodeError, m is unchanged.
func (m *CapabilitiesResponse) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "CapabilitiesResponse"}
	var v CapabilitiesResponse
	var err error
	if v.Version, err = r.u32("version"); err != nil {
		return err
	}
	if v.Features, err = r.strings("features"); err != nil {
		return err
	}
	if err = r.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Has reports whether the broker listed feature.
func (m *CapabilitiesResponse) Has(feature string) bool {
	for _, f := range m.Features {
		if f == feature {
			return true
		}
	}
	return false
}
