package transport

// handshakeCloser is a UDP peer that plays a rustls/quinn broker closing a
// QUIC handshake, byte for byte as quinn puts it on the wire: it decrypts
// the client's Initial packets (RFC 9001 §5.2: their keys derive from the
// client's destination connection ID), reassembles the ClientHello, and
// either answers with an Initial packet carrying CONNECTION_CLOSE (type
// 0x1c) with a chosen error code, or relays the connection to a real QUIC
// server behind it. quic-go cannot be made to send such a close for an
// ALPN refusal, so the peer builds the packet itself.
//
// quinn-proto 0.9 (Debian's package) ends a handshake whose TLS fails
// after the client's first Initial packet with a bare APPLICATION_ERROR:
// in Initial and Handshake packets it replaces every close reason by
// error code 0x0c, frame type 0 and an empty reason (connection/mod.rs,
// close packet of a Closed state outside the Data space). Go's ClientHello
// (with its post-quantum key share) spans two Initial packets, so that is
// what a Go client meets when such a broker refuses the offered ALPN.
// quinn-proto from 0.11.5 on keeps transport-layer reasons and sends
// CRYPTO_ERROR 0x178 (TLS alert 120, no_application_protocol).

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
)

// quicV1InitialSalt is RFC 9001 §5.2's salt for QUIC version 1.
var quicV1InitialSalt = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}

// closeFrame is the CONNECTION_CLOSE (type 0x1c) a handshakeCloser sends.
type closeFrame struct {
	code      uint64
	frameType uint64
	reason    string
}

// Closes as the two generations of quinn send them when the client offers
// an ALPN protocol the server does not have.
var (
	oldQuinnALPNClose = &closeFrame{code: 0x0c}                                                     // quinn-proto < 0.11.5
	newQuinnALPNClose = &closeFrame{code: 0x178, reason: "peer doesn't support any known protocol"} // quinn-proto >= 0.11.5
)

// helloAttempt records one connection attempt the peer saw.
type helloAttempt struct {
	alpn    []string
	refused bool
}

type handshakeCloser struct {
	t       testing.TB
	udp     *net.UDPConn
	backend string                          // "" = refuse every attempt
	decide  func(alpn []string) *closeFrame // nil result: relay to backend

	mu       sync.Mutex
	sessions map[string]*relaySession
	attempts []helloAttempt
	wg       sync.WaitGroup
}

type relaySession struct {
	keys    *initialKeys
	crypto  map[uint64][]byte
	pending [][]byte
	decided bool
	up      *net.UDPConn // to the backend, once relaying
}

// startHandshakeCloser listens on loopback. decide sees the ALPN offers of
// each ClientHello and returns the close to send, or nil to relay the
// connection to backend.
func startHandshakeCloser(t testing.TB, backend string, decide func(alpn []string) *closeFrame) *handshakeCloser {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &handshakeCloser{t: t, udp: udp, backend: backend, decide: decide, sessions: map[string]*relaySession{}}
	p.wg.Add(1)
	go p.loop()
	t.Cleanup(p.close)
	return p
}

func (p *handshakeCloser) Addr() string { return p.udp.LocalAddr().String() }

// Attempts returns the connection attempts seen so far.
func (p *handshakeCloser) Attempts() []helloAttempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]helloAttempt(nil), p.attempts...)
}

func (p *handshakeCloser) close() {
	_ = p.udp.Close()
	p.mu.Lock()
	for _, s := range p.sessions {
		if s.up != nil {
			_ = s.up.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *handshakeCloser) loop() {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.handle(append([]byte(nil), buf[:n]...), from)
	}
}

func (p *handshakeCloser) handle(dgram []byte, from *net.UDPAddr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[from.String()]
	if s == nil {
		s = &relaySession{crypto: map[uint64][]byte{}}
		p.sessions[from.String()] = s
	}
	switch {
	case s.up != nil:
		_, _ = s.up.Write(dgram)
		return
	case s.decided: // refused: a retransmission gets nothing more
		return
	}
	s.pending = append(s.pending, dgram)
	scid, ok := s.absorb(dgram)
	if !ok {
		return
	}
	hello, complete := s.clientHello()
	if !complete {
		return
	}
	s.decided = true
	alpn := parseALPN(hello)
	cf := p.decide(alpn)
	if cf == nil && p.backend == "" {
		p.t.Error("handshakeCloser: asked to relay without a backend")
		cf = oldQuinnALPNClose
	}
	p.attempts = append(p.attempts, helloAttempt{alpn: alpn, refused: cf != nil})
	if cf != nil {
		_, _ = p.udp.WriteToUDP(s.keys.closePacket(scid, cf), from)
		return
	}
	ba, err := net.ResolveUDPAddr("udp", p.backend)
	if err == nil {
		s.up, err = net.DialUDP("udp", nil, ba)
	}
	if err != nil {
		p.t.Errorf("handshakeCloser: relay to %s: %v", p.backend, err)
		return
	}
	for _, d := range s.pending {
		_, _ = s.up.Write(d)
	}
	s.pending = nil
	up := s.up
	p.wg.Add(1)
	go func() { // backend -> client
		defer p.wg.Done()
		b := make([]byte, 65536)
		for {
			n, err := up.Read(b)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					continue // ICMP errors on a connected socket
				}
				return
			}
			if _, err := p.udp.WriteToUDP(b[:n], from); err != nil {
				return
			}
		}
	}()
}

// absorb decrypts the Initial packets of a client datagram and keeps their
// CRYPTO data. It returns the client's source connection ID.
func (s *relaySession) absorb(dgram []byte) (scid []byte, ok bool) {
	for len(dgram) > 0 {
		pkt, rest, dcid, src, err := splitInitial(dgram)
		if err != nil {
			return scid, scid != nil
		}
		dgram = rest
		scid = src
		if s.keys == nil {
			s.keys = newInitialKeys(dcid)
		}
		payload, err := s.keys.openClient(pkt)
		if err != nil {
			continue
		}
		readCryptoFrames(payload, s.crypto)
	}
	return scid, scid != nil
}

// clientHello returns the ClientHello handshake message once its bytes
// from offset 0 are all there.
func (s *relaySession) clientHello() ([]byte, bool) {
	var stream []byte
	for {
		d, ok := s.crypto[uint64(len(stream))]
		if !ok {
			break
		}
		stream = append(stream, d...)
	}
	if len(stream) < 4 {
		return nil, false
	}
	n := int(stream[1])<<16 | int(stream[2])<<8 | int(stream[3])
	if len(stream) < 4+n {
		return nil, false
	}
	return stream[:4+n], true
}

// initialKeys are the Initial packet protection keys of one connection.
type initialKeys struct {
	client, server packetKeys
}

type packetKeys struct {
	aead cipher.AEAD
	iv   []byte
	hp   cipher.Block
}

func expandLabel(secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := binary.BigEndian.AppendUint16(nil, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // empty context
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		panic(err)
	}
	return out
}

func newPacketKeys(secret []byte) packetKeys {
	block, err := aes.NewCipher(expandLabel(secret, "quic key", 16))
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	hp, err := aes.NewCipher(expandLabel(secret, "quic hp", 16))
	if err != nil {
		panic(err)
	}
	return packetKeys{aead: aead, iv: expandLabel(secret, "quic iv", 12), hp: hp}
}

func newInitialKeys(dcid []byte) *initialKeys {
	initial, err := hkdf.Extract(sha256.New, dcid, quicV1InitialSalt)
	if err != nil {
		panic(err)
	}
	return &initialKeys{
		client: newPacketKeys(expandLabel(initial, "client in", 32)),
		server: newPacketKeys(expandLabel(initial, "server in", 32)),
	}
}

func (k packetKeys) nonce(pn uint64) []byte {
	n := append([]byte(nil), k.iv...)
	for i := 0; i < 8; i++ {
		n[len(n)-1-i] ^= byte(pn >> (8 * i))
	}
	return n
}

// readVarint decodes a QUIC variable-length integer (RFC 9000 §16).
func readVarint(b []byte) (uint64, int, bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n := 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v := uint64(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, true
}

func appendVarint(b []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(b, byte(v))
	case v < 1<<14:
		return binary.BigEndian.AppendUint16(b, uint16(v)|0x4000)
	case v < 1<<30:
		return binary.BigEndian.AppendUint32(b, uint32(v)|0x80000000)
	}
	return binary.BigEndian.AppendUint64(b, v|0xc0<<56)
}

// initialPacket is one protected Initial packet and where its packet
// number starts.
type initialPacket struct {
	raw      []byte
	pnOffset int
}

// splitInitial cuts the first long-header Initial packet off a datagram.
func splitInitial(d []byte) (pkt initialPacket, rest, dcid, scid []byte, err error) {
	bad := errors.New("not an Initial packet")
	if len(d) < 7 || d[0]&0xc0 != 0xc0 || (d[0]>>4)&3 != 0 || binary.BigEndian.Uint32(d[1:5]) != 1 {
		return pkt, nil, nil, nil, bad
	}
	off := 5
	field := func() []byte {
		if off >= len(d) || off+1+int(d[off]) > len(d) {
			return nil
		}
		v := d[off+1 : off+1+int(d[off])]
		off += 1 + int(d[off])
		return v
	}
	if dcid = field(); dcid == nil {
		return pkt, nil, nil, nil, bad
	}
	if scid = field(); scid == nil {
		return pkt, nil, nil, nil, bad
	}
	tokLen, n, ok := readVarint(d[off:])
	if !ok || off+n+int(tokLen) > len(d) {
		return pkt, nil, nil, nil, bad
	}
	off += n + int(tokLen)
	length, n, ok := readVarint(d[off:])
	if !ok || off+n+int(length) > len(d) {
		return pkt, nil, nil, nil, bad
	}
	off += n
	end := off + int(length)
	return initialPacket{raw: d[:end], pnOffset: off}, d[end:], dcid, scid, nil
}

// openClient removes header protection and decrypts a client Initial.
func (k *initialKeys) openClient(p initialPacket) ([]byte, error) {
	raw := append([]byte(nil), p.raw...)
	if p.pnOffset+4+16 > len(raw) {
		return nil, errors.New("packet too short to sample")
	}
	mask := make([]byte, 16)
	k.client.hp.Encrypt(mask, raw[p.pnOffset+4:p.pnOffset+20])
	raw[0] ^= mask[0] & 0x0f
	pnLen := int(raw[0]&3) + 1
	var pn uint64
	for i := 0; i < pnLen; i++ {
		raw[p.pnOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(raw[p.pnOffset+i])
	}
	hdr := raw[:p.pnOffset+pnLen]
	return k.client.aead.Open(nil, k.client.nonce(pn), raw[p.pnOffset+pnLen:], hdr)
}

// readCryptoFrames collects the CRYPTO frames of a decrypted payload by
// offset. A client's first Initial packets carry CRYPTO, PADDING and PING
// frames (and ACKs once it heard from the server, which never happens
// here before the decision); parsing stops at anything else.
func readCryptoFrames(b []byte, into map[uint64][]byte) {
	for len(b) > 0 {
		typ, n, ok := readVarint(b)
		if !ok {
			return
		}
		b = b[n:]
		switch typ {
		case 0x00, 0x01: // PADDING, PING
		case 0x06: // CRYPTO
			off, n1, ok1 := readVarint(b)
			if !ok1 {
				return
			}
			l, n2, ok2 := readVarint(b[n1:])
			if !ok2 || n1+n2+int(l) > len(b) {
				return
			}
			into[off] = append([]byte(nil), b[n1+n2:n1+n2+int(l)]...)
			b = b[n1+n2+int(l):]
		default:
			return
		}
	}
}

// closePacket builds the server's Initial packet carrying cf to a client
// whose source connection ID is dcid, padded to 1200 bytes.
func (k *initialKeys) closePacket(dcid []byte, cf *closeFrame) []byte {
	scid := make([]byte, 8)
	_, _ = rand.Read(scid)
	payload := []byte{0x1c}
	payload = appendVarint(payload, cf.code)
	payload = appendVarint(payload, cf.frameType)
	payload = appendVarint(payload, uint64(len(cf.reason)))
	payload = append(payload, cf.reason...)
	hdrLen := 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + 1
	payload = append(payload, make([]byte, 1200-hdrLen-len(payload)-16)...) // PADDING
	hdr := []byte{0xc0}                                                     // long header, fixed bit, Initial, 1-byte packet number
	hdr = binary.BigEndian.AppendUint32(hdr, 1)
	hdr = append(append(hdr, byte(len(dcid))), dcid...)
	hdr = append(append(hdr, byte(len(scid))), scid...)
	hdr = append(hdr, 0)                                                       // token length
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(1+len(payload)+16)|0x4000) // length
	pnOffset := len(hdr)
	hdr = append(hdr, 0) // packet number 0
	pkt := k.server.aead.Seal(append([]byte(nil), hdr...), k.server.nonce(0), payload, hdr)
	mask := make([]byte, 16)
	k.server.hp.Encrypt(mask, pkt[pnOffset+4:pnOffset+20])
	pkt[0] ^= mask[0] & 0x0f
	pkt[pnOffset] ^= mask[1]
	return pkt
}

// parseALPN returns the protocols of a ClientHello's ALPN extension, nil
// without one.
func parseALPN(hello []byte) []string {
	b := hello[4:] // type and length
	skip := func(n int) bool {
		if len(b) < n {
			return false
		}
		b = b[n:]
		return true
	}
	vec := func(lenBytes int) []byte {
		if len(b) < lenBytes {
			return nil
		}
		n := 0
		for i := 0; i < lenBytes; i++ {
			n = n<<8 | int(b[i])
		}
		if len(b) < lenBytes+n {
			return nil
		}
		v := b[lenBytes : lenBytes+n]
		b = b[lenBytes+n:]
		return v
	}
	if !skip(2 + 32) { // legacy_version, random
		return nil
	}
	vec(1) // session id
	vec(2) // cipher suites
	vec(1) // compression methods
	exts := vec(2)
	for len(exts) >= 4 {
		typ := binary.BigEndian.Uint16(exts)
		n := int(binary.BigEndian.Uint16(exts[2:]))
		if len(exts) < 4+n {
			return nil
		}
		data := exts[4 : 4+n]
		exts = exts[4+n:]
		if typ != 16 || len(data) < 2 { // application_layer_protocol_negotiation
			continue
		}
		var out []string
		list := data[2:]
		for len(list) > 0 && int(list[0]) < len(list) {
			out = append(out, string(list[1:1+int(list[0])]))
			list = list[1+int(list[0]):]
		}
		return out
	}
	return nil
}

// offers reports whether the ClientHello offered proto.
func offers(alpn []string, proto string) bool {
	for _, a := range alpn {
		if a == proto {
			return true
		}
	}
	return false
}
