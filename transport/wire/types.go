package wire

// Request types: the first byte of every request and response frame.
const (
	TypeProduce      byte = 1  // ProduceRequest / ProduceResponse
	TypeFetch        byte = 2  // FetchRequest / FetchResponse
	TypeMetadata     byte = 3  // MetadataRequest / MetadataResponse
	TypeAuthenticate byte = 32 // AuthenticateRequest / AuthenticateResponse (extension)
	TypeCapabilities byte = 33 // CapabilitiesRequest / CapabilitiesResponse (extension)
	TypeError        byte = 0xFF
)

// Header keys of this project's extensions (see docs/protocol.md, "Extensions").
const (
	HeaderProducerID  = "rmq-pid"   // 8 bytes, big-endian u64, first record of a batch
	HeaderSequence    = "rmq-seq"   // 8 bytes, big-endian u64, first record of a batch
	HeaderCodec       = "rmq-codec" // "gzip", "lz4" or "zstd" when the value is compressed
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Header is one record header: a UTF-8 key and opaque bytes.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message as it travels on the wire. A nil Key encodes as
// Option::None; a non-nil empty Key encodes as Some(empty). Timestamp is unix
// milliseconds.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp int64
}

// AckLevel is the variant of the AcknowledgmentLevel enum.
type AckLevel uint32

// Acknowledgment levels, numbered as the enum's variant indexes.
const (
	AckNone     AckLevel = 0
	AckLeader   AckLevel = 1
	AckMajority AckLevel = 2
	AckAll      AckLevel = 3
	AckCustom   AckLevel = 4 // carries Acks.Custom
)

// Acks is an AcknowledgmentLevel value. Custom is meaningful only when Level
// is AckCustom.
type Acks struct {
	Level  AckLevel
	Custom uint64
}

// ProduceRequest appends Records to one partition of Topic.
type ProduceRequest struct {
	Topic       string
	PartitionID uint32
	Records     []Record
	Acks        Acks
	TimeoutMs   uint32
}

// ProduceResponse answers a ProduceRequest. Offset is the base offset of the
// batch. ErrorMessage is nil for Option::None.
type ProduceResponse struct {
	Offset       uint64
	ErrorCode    uint32
	ErrorMessage *string
}

// FetchRequest reads records of one partition from FetchOffset.
type FetchRequest struct {
	Topic       string
	PartitionID uint32
	FetchOffset uint64
	MaxBytes    uint32
	TimeoutMs   uint32
}

// FetchResponse answers a FetchRequest.
type FetchResponse struct {
	Records       []Record
	HighWatermark uint64
	ErrorCode     uint32
	ErrorMessage  *string
}

// MetadataRequest asks for the given topics; an empty list means all topics.
type MetadataRequest struct {
	Topics []string
}

// BrokerInfo describes one broker of the cluster.
type BrokerInfo struct {
	ID       string
	Host     string
	PortQUIC uint16
	PortRPC  uint16
	RackID   string
}

// PartitionMetadata describes one partition. Leader is a broker ID, nil when
// no leader is known.
type PartitionMetadata struct {
	PartitionID uint32
	Leader      *string
	Replicas    []string
}

// TopicMetadata lists the partitions of one topic.
type TopicMetadata struct {
	Name       string
	Partitions []PartitionMetadata
}

// MetadataResponse answers a MetadataRequest.
type MetadataResponse struct {
	Brokers        []BrokerInfo
	TopicsMetadata []TopicMetadata
}

// AuthenticateRequest is one round of the Authenticate extension.
type AuthenticateRequest struct {
	Mechanism string
	Payload   []byte
}

// AuthenticateResponse answers an AuthenticateRequest. Complete is false
// while the mechanism needs another round. SessionLifetimeMs > 0 asks the
// client to authenticate again before that many milliseconds pass.
type AuthenticateResponse struct {
	ErrorCode         uint32
	ErrorMessage      *string
	Payload           []byte
	Complete          bool
	Principal         *string
	SessionLifetimeMs uint64
}

// CapabilitiesVersion is the version of the Capabilities exchange this
// package speaks; a client sends it in CapabilitiesRequest.Version.
const CapabilitiesVersion uint32 = 1

// Features a broker may list in CapabilitiesResponse.Features: the
// extensions of this project it serves. A client must ignore names it does
// not know, so brokers can add more.
const (
	// FeatureIdempotence: the broker honours the rmq-pid/rmq-seq headers,
	// answering a retried batch with its original offset instead of
	// appending it again.
	FeatureIdempotence = "idempotence"
	// FeatureReorderWindow: an idempotent batch that arrives ahead of its
	// predecessors (pipelined on other streams) waits for them for a while
	// instead of being answered code 45 at once.
	FeatureReorderWindow = "reorder-window"
	// FeatureAuthenticate: request type 32 (Authenticate) is served.
	FeatureAuthenticate = "authenticate"
	// FeatureWholeRequests: the broker reads every request to the end of
	// its stream, so a request may span many QUIC packets (upstream reads
	// what one read returns, at most 8 KiB).
	FeatureWholeRequests = "whole-requests"
)

// CapabilitiesRequest asks a broker which extensions it serves (request
// type 33, this project's extension). Version is the client's
// CapabilitiesVersion.
type CapabilitiesRequest struct {
	Version uint32
}

// CapabilitiesResponse answers a CapabilitiesRequest with the broker's own
// version of the exchange and the names of the features it serves (the
// Feature* constants and possibly names this package does not know).
type CapabilitiesResponse struct {
	Version  uint32
	Features []string
}
