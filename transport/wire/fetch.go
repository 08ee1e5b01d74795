package wire

// FetchRequest  { topic: String, partition_id: u32, fetch_offset: u64, max_bytes: u32, timeout_ms: u32 }
// FetchResponse { records: Vec<Record>, high_watermark: u64, error_code: u32, error_message: Option<String> }

// Size returns the exact length of the request's bincode encoding.
func (m *FetchRequest) Size() int {
	return stringSize(m.Topic) + 4 + 8 + 4 + 4
}

// Append appends the request's bincode encoding to b.
func (m *FetchRequest) Append(b []byte) []byte {
	b = appendString(b, m.Topic)
	b = appendU32(b, m.PartitionID)
	b = appendU64(b, m.FetchOffset)
	b = appendU32(b, m.MaxBytes)
	return appendU32(b, m.TimeoutMs)
}

// Unmarshal decodes exactly one FetchRequest from b. On error, a
// *DecodeError, m is unchanged.
func (m *FetchRequest) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "FetchRequest"}
	var v FetchRequest
	var err error
	if v.Topic, err = r.str("topic"); err != nil {
		return err
	}
	if v.PartitionID, err = r.u32("partition_id"); err != nil {
		return err
	}
	if v.FetchOffset, err = r.u64("fetch_offset"); err != nil {
		return err
	}
	if v.MaxBytes, err = r.u32("max_bytes"); err != nil {
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
func (m *FetchResponse) Size() int {
	return recordsSize(m.Records) + 8 + 4 + optStringSize(m.ErrorMessage)
}

// Append appends the response's bincode encoding to b.
func (m *FetchResponse) Append(b []byte) []byte {
	b = appendRecords(b, m.Records)
	b = appendU64(b, m.HighWatermark)
	b = appendU32(b, m.ErrorCode)
	return appendOptString(b, m.ErrorMessage)
}

// Unmarshal decodes exactly one FetchResponse from b. Record keys, values
// and header values alias b. On error, a *DecodeError, m is unchanged.
func (m *FetchResponse) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "FetchResponse"}
	var v FetchResponse
	var err error
	if v.Records, err = decodeRecords(&r, "records", nil); err != nil {
		return err
	}
	if v.HighWatermark, err = r.u64("high_watermark"); err != nil {
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
func (m *FetchResponse) Err() error { return ResponseErr(m.ErrorCode, m.ErrorMessage) }
