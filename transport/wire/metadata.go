package wire

// MetadataRequest   { topics: Vec<String> }
// BrokerInfo        { id: String, host: String, port_quic: u16, port_rpc: u16, rack_id: String }
// PartitionMetadata { partition_id: u32, leader: Option<String>, replicas: Vec<String> }
// TopicMetadata     { name: String, partitions: Vec<PartitionMetadata> }
// MetadataResponse  { brokers: Vec<BrokerInfo>, topics_metadata: Vec<TopicMetadata> }

// Size returns the exact length of the request's bincode encoding.
func (m *MetadataRequest) Size() int { return stringsSize(m.Topics) }

// Append appends the request's bincode encoding to b. A nil or empty Topics
// asks for all topics.
func (m *MetadataRequest) Append(b []byte) []byte { return appendStrings(b, m.Topics) }

// Unmarshal decodes exactly one MetadataRequest from b; an empty topic list
// decodes as nil. On error, a *DecodeError, m is unchanged.
func (m *MetadataRequest) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "MetadataRequest"}
	topics, err := r.strings("topics")
	if err == nil {
		err = r.finish()
	}
	if err != nil {
		return err
	}
	m.Topics = topics
	return nil
}

// Size returns the exact length of the response's bincode encoding.
func (m *MetadataResponse) Size() int {
	n := 8
	for i := range m.Brokers {
		bi := &m.Brokers[i]
		n += stringSize(bi.ID) + stringSize(bi.Host) + 2 + 2 + stringSize(bi.RackID)
	}
	n += 8
	for i := range m.TopicsMetadata {
		tm := &m.TopicsMetadata[i]
		n += stringSize(tm.Name) + 8
		for j := range tm.Partitions {
			pm := &tm.Partitions[j]
			n += 4 + optStringSize(pm.Leader) + stringsSize(pm.Replicas)
		}
	}
	return n
}

// Append appends the response's bincode encoding to b.
func (m *MetadataResponse) Append(b []byte) []byte {
	b = appendU64(b, uint64(len(m.Brokers)))
	for i := range m.Brokers {
		bi := &m.Brokers[i]
		b = appendString(b, bi.ID)
		b = appendString(b, bi.Host)
		b = appendU16(b, bi.PortQUIC)
		b = appendU16(b, bi.PortRPC)
		b = appendString(b, bi.RackID)
	}
	b = appendU64(b, uint64(len(m.TopicsMetadata)))
	for i := range m.TopicsMetadata {
		tm := &m.TopicsMetadata[i]
		b = appendString(b, tm.Name)
		b = appendU64(b, uint64(len(tm.Partitions)))
		for j := range tm.Partitions {
			pm := &tm.Partitions[j]
			b = appendU32(b, pm.PartitionID)
			b = appendOptString(b, pm.Leader)
			b = appendStrings(b, pm.Replicas)
		}
	}
	return b
}

// Unmarshal decodes exactly one MetadataResponse from b. Empty sequences
// (brokers, topics, partitions, replicas) decode as nil. On error, a
// *DecodeError, m is unchanged.
func (m *MetadataResponse) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "MetadataResponse"}
	var v MetadataResponse
	var err error
	if v.Brokers, err = decodeBrokers(&r); err != nil {
		return err
	}
	if v.TopicsMetadata, err = decodeTopics(&r); err != nil {
		return err
	}
	if err = r.finish(); err != nil {
		return err
	}
	*m = v
	return nil
}

func decodeBrokers(r *reader) ([]BrokerInfo, error) {
	n, err := r.length("brokers", minBrokerInfoSize)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]BrokerInfo, n)
	for i := range out {
		if err := decodeBroker(r, &out[i]); err != nil {
			return nil, prefixField(err, "brokers", i)
		}
	}
	return out, nil
}

func decodeBroker(r *reader, bi *BrokerInfo) error {
	var err error
	if bi.ID, err = r.str("id"); err != nil {
		return err
	}
	if bi.Host, err = r.str("host"); err != nil {
		return err
	}
	if bi.PortQUIC, err = r.u16("port_quic"); err != nil {
		return err
	}
	if bi.PortRPC, err = r.u16("port_rpc"); err != nil {
		return err
	}
	bi.RackID, err = r.str("rack_id")
	return err
}

func decodeTopics(r *reader) ([]TopicMetadata, error) {
	n, err := r.length("topics_metadata", minTopicMetadataSize)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]TopicMetadata, n)
	for i := range out {
		if err := decodeTopic(r, &out[i]); err != nil {
			return nil, prefixField(err, "topics_metadata", i)
		}
	}
	return out, nil
}

func decodeTopic(r *reader, tm *TopicMetadata) error {
	var err error
	if tm.Name, err = r.str("name"); err != nil {
		return err
	}
	n, err := r.length("partitions", minPartitionMetadataSize)
	if err != nil || n == 0 {
		return err
	}
	tm.Partitions = make([]PartitionMetadata, n)
	for i := range tm.Partitions {
		pm := &tm.Partitions[i]
		if pm.PartitionID, err = r.u32("partition_id"); err != nil {
			return prefixField(err, "partitions", i)
		}
		if pm.Leader, err = r.optStr("leader"); err != nil {
			return prefixField(err, "partitions", i)
		}
		if pm.Replicas, err = r.strings("replicas"); err != nil {
			return prefixField(err, "partitions", i)
		}
	}
	return nil
}
