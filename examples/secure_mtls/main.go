package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rustmq/rustmq-go/broker"
	"github.com/rustmq/rustmq-go/internal/devcert"
	rmq "github.com/rustmq/rustmq-go/runtime"
)

// clientName is the common name of the generated client certificate, and so
// the principal the broker sees.
const clientName = "payments-service"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "secure_mtls:", err)
		os.Exit(1)
	}
}

// files are the PEM files a client needs for mTLS.
type files struct {
	ca, cert, key string
}

func run() error {
	brokers := flag.String("brokers", "", "comma-separated broker addresses (default: start an in-process development broker requiring client certificates)")
	caFile := flag.String("ca", "", "PEM file of the CA that signs the brokers' certificates (with -brokers)")
	certFile := flag.String("cert", "", "PEM client certificate file (with -brokers)")
	keyFile := flag.String("key", "", "PEM client key file (with -brokers)")
	serverName := flag.String("server-name", "", "name to verify in the broker certificate (default: the host dialled)")
	topic := flag.String("topic", "payments", "topic the client may write")
	forbidden := flag.String("forbidden-topic", "", "topic the client may not write, to show the broker's refusal (default: \"audit\" on the in-process broker; with -brokers, none: give one the broker's ACL denies)")
	count := flag.Int("messages", 5, "messages to send")
	timeout := flag.Duration("timeout", 30*time.Second, "bound on the whole run")
	flag.Parse()
	if *count < 1 {
		return fmt.Errorf("-messages: %d must be at least 1", *count)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var f files
	var addrs []string
	if *brokers == "" && *forbidden == "" {
		*forbidden = "audit"
	}
	if *brokers == "" {
		dir, err := os.MkdirTemp("", "rustmq-mtls")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		b, gen, err := startSecureBroker(ctx, dir, *topic, *forbidden)
		if err != nil {
			return err
		}
		defer b.Close()
		f, addrs = gen, []string{b.Addr()}
		fmt.Printf("started a development broker on %s requiring client certificates\n", b.Addr())
		fmt.Printf("certificates written to %s: ca.pem, client.pem, client-key.pem\n", dir)
	} else {
		if *caFile == "" || *certFile == "" || *keyFile == "" {
			return errors.New("with -brokers, -ca, -cert and -key are required")
		}
		f, addrs = files{ca: *caFile, cert: *certFile, key: *keyFile}, strings.Split(*brokers, ",")
	}

	cn, err := commonName(f.cert)
	if err != nil {
		return err
	}
	fmt.Printf("client certificate %s: subject CN %q (the principal the broker sees)\n", f.cert, cn)

	if err := produceWithCert(ctx, addrs, f, *serverName, *topic, *forbidden, *count); err != nil {
		return err
	}
	return refusedWithoutCert(ctx, addrs, f.ca, *serverName, *topic)
}

// startSecureBroker writes a CA, a server leaf and a client certificate
// into dir and starts a broker that requires client certificates signed by
// that CA and lets clientName write only topic.
func startSecureBroker(ctx context.Context, dir, topic, forbidden string) (*broker.Broker, files, error) {
	f := files{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "client.pem"), key: filepath.Join(dir, "client-key.pem")}
	ca, err := devcert.NewCA("rustmq example CA")
	if err != nil {
		return nil, f, err
	}
	server, err := ca.IssueServer() // localhost, 127.0.0.1, ::1
	if err != nil {
		return nil, f, err
	}
	client, err := ca.IssueClient(clientName)
	if err != nil {
		return nil, f, err
	}
	if err := ca.WriteCA(f.ca); err != nil {
		return nil, f, err
	}
	if err := devcert.WriteKeyPair(client, f.cert, f.key); err != nil {
		return nil, f, err
	}
	topics := map[string]int{topic: 3}
	if forbidden != "" {
		topics[forbidden] = 1
	}
	b, err := broker.Start(ctx, broker.Config{
		Topics:            topics,
		Certificate:       &server,
		ClientCAs:         ca.Pool(),
		RequireClientCert: true,
		ACL:               map[string][]string{clientName: {topic}},
	})
	if err != nil {
		return nil, f, fmt.Errorf("start development broker: %w", err)
	}
	return b, f, nil
}

// produceWithCert connects with the certificate files, sends count messages
// to topic and one to forbidden, and prints what happened.
func produceWithCert(ctx context.Context, addrs []string, f files, serverName, topic, forbidden string, count int) error {
	rt, err := rmq.New(rmq.Config{
		Brokers:  addrs,
		ClientID: "secure-mtls-example",
		TLS:      rmq.TLSConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key, ServerName: serverName},
	})
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer(topic, rmq.ProducerConfig{Acks: rmq.AcksAll})
	if err != nil {
		return err
	}
	for i := range count {
		msg, err := rmq.NewMessage().
			KeyString(fmt.Sprintf("account-%d", i%3)).
			PayloadJSON(map[string]any{"payment": i, "amount_cents": 1250 + 100*i, "currency": "EUR"}).
			Build()
		if err != nil {
			return err
		}
		res, err := p.Send(ctx, msg)
		if err != nil {
			return fmt.Errorf("send to %s: %w", topic, err)
		}
		fmt.Printf("sent: topic=%s partition=%d offset=%d key=%s\n", res.Topic, res.Partition, res.Offset, msg.Key)
	}
	for _, h := range rt.Health() {
		fmt.Printf("connection: broker=%s state=%s alpn=%q\n", h.Addr, h.State, h.ALPN)
	}

	if forbidden != "" {
		msg, err := rmq.NewMessage().Topic(forbidden).PayloadString("not for this service").Build()
		if err != nil {
			return err
		}
		_, err = p.Send(ctx, msg)
		var authz *rmq.AuthorizationError
		switch {
		case errors.As(err, &authz):
			fmt.Printf("refused as expected: topic=%s op=%s: %v\n", authz.Topic, authz.Op, authz.Err)
		case err == nil:
			return fmt.Errorf("the broker let this client write %q; expected an authorization error", forbidden)
		default:
			return fmt.Errorf("send to %s: expected an authorization error, got: %w", forbidden, err)
		}
	}
	if err := p.Close(ctx); err != nil {
		return err
	}
	return rt.Close(ctx)
}

// refusedWithoutCert connects with the CA file only (no client certificate)
// and shows that the broker refuses the TLS handshake: the send fails with
// the broker's TLS alert.
func refusedWithoutCert(ctx context.Context, addrs []string, caFile, serverName, topic string) error {
	fmt.Println("connecting without a client certificate ...")
	rt, err := rmq.New(rmq.Config{
		Brokers:        addrs,
		ClientID:       "secure-mtls-example-nocert",
		TLS:            rmq.TLSConfig{CAFile: caFile, ServerName: serverName},
		ConnectTimeout: 3 * time.Second,
	})
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	p, err := rt.CreateProducer(topic, rmq.ProducerConfig{DeliveryTimeout: 3 * time.Second})
	if err != nil {
		return err
	}
	msg, err := rmq.NewMessage().PayloadString("who am I?").Build()
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, sendErr := p.Send(sctx, msg)
	if sendErr == nil {
		return errors.New("the broker accepted a client without a certificate; expected a refusal")
	}
	// With TLS 1.3 the client finishes its handshake before the broker
	// checks the client certificate, so the refusal (a TLS alert) arrives
	// on the connection's first use: the send's error carries it.
	fmt.Printf("send without a certificate failed: %v\n", sendErr)
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	_ = p.Close(cctx)
	return rt.Close(cctx)
}

// commonName reads the subject common name of the first certificate in a
// PEM file.
func commonName(certFile string) (string, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("%s: %w", certFile, err)
	}
	return cert.Subject.CommonName, nil
}
