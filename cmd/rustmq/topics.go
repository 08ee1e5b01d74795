package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	rmq "github.com/rustmq/rustmq-go/runtime"
)

func runTopics(ctx context.Context, e env, args []string) error {
	fs := newFlagSet("topics", "[TOPIC...]", "List the brokers and, for every topic (or the ones named), its partitions and their leaders, from a Metadata request.", e.stderr)
	var cf connFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the metadata as one JSON object")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	names, err := parse(fs, args)
	if err != nil {
		return err
	}
	rt, err := cf.open(e)
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	qctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	md, err := rt.Metadata(qctx, names...)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return errInterrupted
	case qctx.Err() != nil:
		return withBrokerState(rt, err)
	default:
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(md, "", "  ")
		if err != nil {
			return err
		}
		if _, err = fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
			return err
		}
	} else if err := printMetadata(e.stdout, md); err != nil {
		return err
	}
	// A topic asked for by name and not in the answer does not exist (or
	// the broker lists no topics, as upstream RustMQ does).
	var missing []string
	for _, name := range names {
		if !slices.ContainsFunc(md.Topics, func(t rmq.MetadataTopic) bool { return t.Name == name }) && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not in the answer of %s", rmq.ErrUnknownTopic, strings.Join(missing, ", "), md.Source)
	}
	return nil
}

// printMetadata writes the brokers and topics as aligned tables.
func printMetadata(out io.Writer, md *rmq.Metadata) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "brokers (answered by %s):\n", md.Source)
	fmt.Fprintln(w, "  ID\tADDRESS\tRACK")
	for _, b := range md.Brokers {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", b.ID, b.Addr, dash(b.Rack))
	}
	fmt.Fprintln(w)
	if len(md.Topics) == 0 {
		fmt.Fprintln(w, "no topics listed (upstream RustMQ lists none: use -upstream and -static-partitions with produce and consume)")
		return w.Flush()
	}
	fmt.Fprintln(w, "topics:")
	fmt.Fprintln(w, "  TOPIC\tPARTITION\tLEADER\tREPLICAS")
	for _, t := range md.Topics {
		if len(t.Partitions) == 0 {
			fmt.Fprintf(w, "  %s\t-\tunknown topic\t\n", t.Name)
		}
		for _, p := range t.Partitions {
			leader := "none"
			if p.Leader != "" {
				leader = p.Leader
				if p.LeaderAddr != "" {
					leader += " (" + p.LeaderAddr + ")"
				}
			}
			fmt.Fprintf(w, "  %s\t%d\t%s\t%s\n", t.Name, p.ID, leader, dash(strings.Join(p.Replicas, ",")))
		}
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
