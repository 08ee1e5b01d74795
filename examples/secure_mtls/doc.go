// Command secure_mtls produces over mutual TLS: the client proves who it is
// with a certificate, the broker takes the certificate's common name as the
// principal and authorizes writes by it.
// It imports the runtime, the development broker and internal/devcert (to
// make certificates), nothing else of this module.
//
// Without -brokers it makes a throwaway CA, a server certificate and a
// client certificate (common name "payments-service") in a temporary
// directory, starts an in-process development broker that requires client
// certificates and lets "payments-service" write only the topic
// "payments", and then:
//
//  1. connects with the CA file, client certificate file and key file, as a
//     service would with files from its secret store;
//  2. sends a few messages to "payments" and prints partition and offset;
//  3. tries the topic "audit" and prints the broker's refusal naming the
//     principal;
//  4. connects once more without a client certificate and prints the TLS
//     handshake's refusal.
//
// Usage:
//
//	go run ./examples/secure_mtls
//	go run ./examples/secure_mtls -brokers host:port -ca ca.pem -cert client.pem -key client-key.pem
//
// With -brokers, step 3 runs only when -forbidden-topic names a topic the
// broker's ACL denies to the certificate's principal.
package main
