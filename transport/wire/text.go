package wire

import (
	"strings"
	"unicode/utf8"
)

// MaxErrorTextBytes bounds the broker texts (error frames and
// error_message fields) that this package turns into errors. A broker may
// send megabytes of text; an error is copied into logs and into the result
// of every message of a batch, so only the start of it is kept.
const MaxErrorTextBytes = 1024

// truncatedMarker ends a text cut by TruncateErrorText.
const truncatedMarker = " …[truncated]"

// TruncateErrorText returns s when it is valid UTF-8 of at most
// MaxErrorTextBytes bytes. Otherwise invalid UTF-8 is replaced by U+FFFD,
// so the result is always safe to log, and a text longer than
// MaxErrorTextBytes (before or after that repair) keeps its first
// MaxErrorTextBytes bytes or fewer, cut at a character boundary, followed
// by " …[truncated]". Only the bytes kept are copied.
func TruncateErrorText(s string) string {
	if len(s) <= MaxErrorTextBytes && utf8.ValidString(s) {
		return s
	}
	long := len(s) > MaxErrorTextBytes
	// Cut before repairing, so that a huge text is never copied whole;
	// repairing may lengthen it (one bad byte becomes three), so cut again.
	s = strings.ToValidUTF8(cutAtRune(s, MaxErrorTextBytes), "\uFFFD")
	if len(s) > MaxErrorTextBytes {
		s, long = cutAtRune(s, MaxErrorTextBytes), true
	}
	if long {
		s += truncatedMarker
	}
	return s
}

// cutAtRune returns the longest prefix of s of at most n bytes that does
// not end inside a multi-byte UTF-8 sequence.
func cutAtRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	// Step back over continuation bytes to the start of the character
	// that straddles the cut; keep it only if it ends by n.
	for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut]
}
