package wire

// AuthenticateRequest  { mechanism: String, payload: bytes }
// AuthenticateResponse { error_code: u32, error_message: Option<String>, payload: bytes,
//                        complete: bool, principal: Option<String>, session_lifetime_ms: u64 }

// Size returns the exact length of the request's bincode encoding.
func (m *AuthenticateRequest) Size() int {
	return stringSize(m.Mechanism) + 8 + len(m.Payload)
}

// Append appends the request's bincode encoding to b. A nil Payload is
// written as an empty byte string.
func (m *AuthenticateRequest) Append(b []byte) []byte {
	b = appendString(b, m.Mechanism)
	return appendBytes(b, m.Payload)
}

// Unmarshal decodes exactly one AuthenticateRequest from b. Payload aliases
// b and is never nil. On error, a *DecodeError, m is unchanged.
func (m *AuthenticateRequest) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "AuthenticateRequest"}
	var v AuthenticateRequest
	var err error
	if v.Mechanism, err = r.str("mechanism"); err != nil {
		return err
	}
	if v.Payload, err = r.bytes("payload"); err != nil {
		return err
	}
	if err = r.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Size returns the exact length of the response's bincode encoding.
func (m *AuthenticateResponse) Size() int {
	return 4 + optStringSize(m.ErrorMessage) + 8 + len(m.Payload) + 1 + optStringSize(m.Principal) + 8
}

// Append appends the response's bincode encoding to b.
func (m *AuthenticateResponse) Append(b []byte) []byte {
	b = appendU32(b, m.ErrorCode)
	b = appendOptString(b, m.ErrorMessage)
	b = appendBytes(b, m.Payload)
	b = appendBool(b, m.Complete)
	b = appendOptString(b, m.Principal)
	return appendU64(b, m.SessionLifetimeMs)
}

// Unmarshal decodes exactly one AuthenticateResponse from b. Payload
// aliases b and is never nil. On error, a *DecodeError, m is unchanged.
func (m *AuthenticateResponse) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "AuthenticateResponse"}
	var v AuthenticateResponse
	var err error
	if v.ErrorCode, err = r.u32("error_code"); err != nil {
		return err
	}
	if v.ErrorMessage, err = r.optStr("error_message"); err != nil {
		return err
	}
	if v.Payload, err = r.bytes("payload"); err != nil {
		return err
	}
	if v.Complete, err = r.boolean("complete"); err != nil {
		return err
	}
	if v.Principal, err = r.optStr("principal"); err != nil {
		return err
	}
	if v.SessionLifetimeMs, err = r.u64("session_lifetime_ms"); err != nil {
		return err
	}
	if err = r.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Err returns nil when ErrorCode is 0 and otherwise a *ResponseError
// carrying ErrorMessage (see ResponseErr).
func (m *AuthenticateResponse) Err() error { return ResponseErr(m.ErrorCode, m.ErrorMessage) }
