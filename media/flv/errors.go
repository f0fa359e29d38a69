package flv

import "errors"

// Errors returned by Reader. They are wrapped with detail, so compare with
// errors.Is. Truncation is reported by wrapping io.ErrUnexpectedEOF.
var (
	ErrInvalidSignature   = errors.New("flv: invalid signature (not an FLV stream)")
	ErrUnsupportedVersion = errors.New("flv: unsupported FLV version")
	ErrInvalidDataOffset  = errors.New("flv: invalid header data offset")
	ErrTagTooLarge        = errors.New("flv: tag larger than the reader's limit")
)
