package backup

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	"github.com/klauspost/compress/zstd"

	"github.com/tandemcc/tandem/cluster"
)

// A data file is plain bytes → zstd → age (with a key) → disk; its
// SHA-256 is of the bytes on disk, so checksums are verified without the
// key. zstd was measured against gzip on a JSON state (DESIGN.md).

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeFile writes one data file named base (+".age" with a key) in dir;
// fill writes the plain content to the writer it is given.
func writeFile(dir, base string, key *Key, fill func(w io.Writer) error) (File, error) {
	name := base
	if key != nil {
		name += ageSuffix
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return File{}, fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	disk := &counter{w: io.MultiWriter(bw, h)}
	var out io.Writer = disk
	var enc io.WriteCloser
	if key != nil {
		if enc, err = key.encrypt(disk); err != nil {
			return File{}, fmt.Errorf("encrypting %s: %w", name, err)
		}
		out = enc
	}
	zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return File{}, fmt.Errorf("compressing %s: %w", name, err)
	}
	raw := &counter{w: zw}
	if err := fill(raw); err != nil {
		zw.Close()
		return File{}, err
	}
	if err := zw.Close(); err != nil {
		return File{}, fmt.Errorf("compressing %s: %w", name, err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return File{}, fmt.Errorf("encrypting %s: %w", name, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return File{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return File{}, fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return File{}, fmt.Errorf("closing %s: %w", path, err)
	}
	return File{Name: name, Size: disk.n, RawSize: raw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ErrDamaged marks a backup whose files do not match their checksums.
var ErrDamaged = errors.New("damaged")

// readFile reads the data file fe of the backup in dir through read,
// which gets the plain content. The whole file is read and its checksum
// and size checked whatever read does; a mismatch is reported before
// (instead of) read's own error, since it explains it.
func readFile(dir, id string, fe File, key *Key, read func(r io.Reader) error) error {
	path := filepath.Join(dir, fe.Name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup %s: file %s is missing: %w", id, fe.Name, ErrDamaged)
	}
	if err != nil {
		return fmt.Errorf("backup %s: %w", id, err)
	}
	defer f.Close()
	h := sha256.New()
	disk := &hashReader{r: bufio.NewReaderSize(f, 1<<20), h: h}
	var rerr error
	if read != nil {
		rerr = decodeFile(disk, fe, key, read)
	}
	if _, err := io.Copy(io.Discard, disk); err != nil {
		return fmt.Errorf("backup %s: reading %s: %w", id, fe.Name, err)
	}
	if disk.n != fe.Size || hex.EncodeToString(h.Sum(nil)) != fe.SHA256 {
		return fmt.Errorf("backup %s: file %s does not match its checksum (%d bytes, manifest says %d): %w", id, fe.Name, disk.n, fe.Size, ErrDamaged)
	}
	if errors.Is(rerr, ErrWrongKey) {
		return fmt.Errorf("%w: key file %s does not decrypt backup %s", ErrWrongKey, key.path, id)
	}
	if rerr != nil {
		return fmt.Errorf("backup %s: reading %s: %w", id, fe.Name, rerr)
	}
	return nil
}

func decodeFile(r io.Reader, fe File, key *Key, read func(r io.Reader) error) error {
	if filepath.Ext(fe.Name) == ageSuffix {
		if key == nil {
			return errors.New("the file is encrypted and no key was given")
		}
		dr, err := key.decrypt(r)
		if err != nil {
			return err
		}
		r = dr
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<36))
	if err != nil {
		return err
	}
	defer zr.Close()
	raw := &hashReader{r: zr}
	if err := read(raw); err != nil {
		return err
	}
	// The rest must be the end of the stream (this also checks zstd's
	// checksum and age's last chunk).
	if n, err := io.Copy(io.Discard, raw); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("%d bytes after the content", n)
	}
	if raw.n != fe.RawSize {
		return fmt.Errorf("%d bytes of content, the manifest says %d", raw.n, fe.RawSize)
	}
	return nil
}

// checkFile verifies one file's checksum without decoding it.
func checkFile(dir, id string, fe File) error {
	return readFile(dir, id, fe, nil, nil)
}

type hashReader struct {
	r io.Reader
	h hash.Hash // may be nil
	n int64
}

func (r *hashReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if r.h != nil {
			r.h.Write(p[:n])
		}
		r.n += int64(n)
	}
	return n, err
}

// The log file of an incremental: logMagic, then per entry its index and
// term (uvarint), type (one byte) and data (uvarint length, bytes).
const logMagic = "TANDEM-BACKUP-LOG-1\n"

type logWriter struct {
	w   io.Writer
	buf []byte
	n   uint64
}

func newLogWriter(w io.Writer) (*logWriter, error) {
	if _, err := io.WriteString(w, logMagic); err != nil {
		return nil, err
	}
	return &logWriter{w: w}, nil
}

func (lw *logWriter) write(e cluster.LogEntry) error {
	b := lw.buf[:0]
	b = binary.AppendUvarint(b, e.Index)
	b = binary.AppendUvarint(b, e.Term)
	b = append(b, byte(e.Type))
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	lw.buf = b
	if _, err := lw.w.Write(b); err != nil {
		return err
	}
	if _, err := lw.w.Write(e.Data); err != nil {
		return err
	}
	lw.n++
	return nil
}

// maxEntry bounds one entry's data when reading (a damaged length must
// not allocate the machine's memory).
const maxEntry = 64 << 20

// readLog calls fn with each entry of a log file's plain content.
func readLog(r io.Reader, fn func(cluster.LogEntry) error) error {
	br := bufio.NewReader(r)
	magic := make([]byte, len(logMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != logMagic {
		return errors.New("not a backup log (bad header)")
	}
	for {
		idx, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading an entry: %w", err)
		}
		term, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("reading entry %d: %w", idx, noEOF(err))
		}
		typ, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("reading entry %d: %w", idx, noEOF(err))
		}
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return fmt.Errorf("reading entry %d: %w", idx, noEOF(err))
		}
		if n > maxEntry {
			return fmt.Errorf("entry %d claims %d bytes", idx, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return fmt.Errorf("reading entry %d: %w", idx, noEOF(err))
		}
		if err := fn(cluster.LogEntry{Index: idx, Term: term, Type: raft.LogType(typ), Data: data}); err != nil {
			return err
		}
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
