package compress

import (
	"errors"
	"fmt"
)

// ErrUnknownCodec reports a codec name or [Codec] value this package does
// not implement. Returned errors wrap it with the offending name.
var ErrUnknownCodec = errors.New("compress: unknown codec")

// ErrTooLarge reports that a value would decompress to more than the
// permitted number of bytes (a decompression bomb, or a limit set too low).
var ErrTooLarge = errors.New("compress: decompressed value too large")

// CorruptError reports compressed input that its codec could not decode:
// a bad header, a checksum mismatch, truncation or trailing garbage.
type CorruptError struct {
	Codec Codec // the codec that rejected the input
	Err   error // the decoder's own error
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("compress: corrupt %s data: %v", e.Codec, e.Err)
}

// Unwrap returns the decoder's error.
func (e *CorruptError) Unwrap() error { return e.Err }

// tooLarge builds the ErrTooLarge error for codec c and limit maxSize,
// keeping the decoder's cause (if any) reachable through errors.Is.
func tooLarge(c Codec, maxSize int, cause error) error {
	if cause != nil {
		return fmt.Errorf("%w: %s value exceeds %d bytes (%w)", ErrTooLarge, c, maxSize, cause)
	}
	return fmt.Errorf("%w: %s value exceeds %d bytes", ErrTooLarge, c, maxSize)
}
