package wire

import "strconv"

// Acks encodes as the AcknowledgmentLevel enum of docs/protocol.md:
//
//	AcknowledgmentLevel = None(0) | Leader(1) | Majority(2) | All(3) | Custom(4, u64)

// String returns the variant's name as in docs/protocol.md ("None", "Leader",
// "Majority", "All", "Custom"), or "AckLevel(n)" for an undefined value.
func (l AckLevel) String() string {
	switch l {
	case AckNone:
		return "None"
	case AckLeader:
		return "Leader"
	case AckMajority:
		return "Majority"
	case AckAll:
		return "All"
	case AckCustom:
		return "Custom"
	}
	return "AckLevel(" + strconv.FormatUint(uint64(l), 10) + ")"
}

// Valid reports whether l is a variant docs/protocol.md defines.
func (l AckLevel) Valid() bool { return l <= AckCustom }

// Size returns 12 for AckCustom and 4 for every other level.
func (m *Acks) Size() int {
	if m.Level == AckCustom {
		return 12
	}
	return 4
}

// Append appends the enum's variant index, then Custom when Level is
// AckCustom (Custom is ignored otherwise). A Level that is not Valid is
// written as given and will be refused by every decoder; callers validate
// configuration before encoding.
func (m *Acks) Append(b []byte) []byte {
	b = appendU32(b, uint32(m.Level))
	if m.Level == AckCustom {
		b = appendU64(b, m.Custom)
	}
	return b
}

// Unmarshal decodes exactly one AcknowledgmentLevel from b.
func (m *Acks) Unmarshal(b []byte) error {
	r := reader{buf: b, typ: "AcknowledgmentLevel"}
	v, err := decodeAcks(&r, "")
	if err == nil {
		err = r.finish()
	}
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func decodeAcks(r *reader, field string) (Acks, error) {
	at := r.off
	idx, err := r.u32(field)
	if err != nil {
		return Acks{}, err
	}
	a := Acks{Level: AckLevel(idx)}
	switch a.Level {
	case AckNone, AckLeader, AckMajority, AckAll:
	case AckCustom:
		if a.Custom, err = r.u64(field); err != nil {
			return Acks{}, err
		}
	default:
		return Acks{}, r.fail(field, at, ErrInvalidEnum)
	}
	return a, nil
}
