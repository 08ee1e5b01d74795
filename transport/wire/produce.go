package wire

// ProduceRequest  { topic: String, partition_id: u32, records: Vec<Record>, acks: AcknowledgmentLevel, timeout_ms: u32 }
// ProduceResponse { offset: u64, error_code: u32, error_message: Option<String> }

// Size returns the exact length of the request's bincode encoding.
func (m *ProduceRequest) Size() int {
	return stringSize(m.Topic) + 4 + recordsSize(m.Records) + m.Acks.Size() + 4
}

// Append appends the request's bincode encoding (the frame body, without
// the type byte) to b.
func (m *ProduceRequest) Append(b []byte) []byte {
	b = appendString(b, m.Topic)
	b = appendU32(b, m.PartitionID)
	b = appendRecords(b, m.Records)
	b = m.Acks.Append(b)
	return appendU32(b, m.TimeoutMs)
}

// Unmarshal decodes exactly one ProduceRequest from b. Record keys, values
// and header values alias b. On error, a *DecodeError, m is unchanged.
func (m *ProduceRequest) Unmarshal(b []byte) error {
	return m.unmarshal(b, nil)
}

// UnmarshalReusing is Unmarshal decoding the records into the backing
// array of m.Records when it holds enough of them, so that a server
// decoding request after request into one ProduceRequest allocates the
// records once. The records it held are overwritten, on error too; the
// rest of m is unchanged on error.
func (m *ProduceRequest) UnmarshalReusing(b []byte) error {
	return m.unmarshal(b, m.Records[:cap(m.Records)])
}

func (m *ProduceRequest) unmarshal(b []byte, reuse []Record) error {
	r := reader{buf: b, typ: "ProduceRequest"}
	var v ProduceRequest
	var err error
	if v.Topic, err = r.str("topic"); err != nil {
		return err
	}
	if v.PartitionID, err = r.u32("partition_id"); err != nil {
		return err
	}
	if v.Records, err = decodeRecords(&r, "records", reuse); err != nil {
		return err
	}
	if v.Acks, err = decodeAcks(&r, "acks"); err != nil {
		return err
	}
	if v.TimeoutMs, err = r.u32("timeout_ms"); err != nil {
		return err
	}
	if err = r.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Size returns the exact length of the response's bincode encoding.
func (m *ProduceResponse) Size() int {
	return 8 + 4 + optStringSize(m.ErrorMessage)
}

// Append appends the response's bincode encoding to b.
func (m *ProduceResponse) Append(b []byte) []byte {
	b = appendU64(b, m.Offset)
	b = appendU32(b, m.ErrorCode)
	return appendOptString(b, m.ErrorMessage)
}

// Unmarshal decodes exactly one ProduceResponse from b. On error, a
// *DecodeError, m is unchanged.
func (m *ProduceResponse) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "ProduceResponse"}
	var v ProduceResponse
	var err error
	if v.Offset, err = r.u64("offset"); err != nil {
		return err
	}
	if v.ErrorCode, err = r.u32("error_code"); err != nil {
		return err
	}
	if v.ErrorMessage, err = r.optStr("error_message"); err != nil {
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
func (m *ProduceResponse) Err() error { return ResponseErr(m.ErrorCode, m.ErrorMessage) }
