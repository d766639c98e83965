// Package onnx runs ONNX models with ONNX Runtime's shared library
// (libonnxruntime.so.1), loaded when the program runs rather than linked.
//
// It calls ONNX Runtime's C API through github.com/ebitengine/purego, so
// pixpool keeps building without cgo or a C compiler, and a machine without
// the library still runs everything but the models. The C API is a table of
// function pointers (OrtApi) whose order never changes between releases:
// the indexes below are those of onnxruntime_c_api.h, and version requests
// the oldest table with everything used here, so any newer library serves.
//
// Only what recognition needs is here: sessions from a model in memory or a
// file, float32 tensors in and out, and a thread count per session.
package onnx

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// version is the OrtApi table requested: ONNX Runtime 1.14's, which has every
// function used here. A library older than that refuses it (Load says so).
const version = 14

// Indexes of the functions used, in OrtApi (onnxruntime_c_api.h).
const (
	iGetErrorMessage                = 2
	iCreateEnv                      = 3
	iCreateSession                  = 7
	iCreateSessionFromArray         = 8
	iRun                            = 9
	iCreateSessionOptions           = 10
	iDisableCpuMemArena             = 19
	iSetSessionGraphOptimization    = 23
	iSetIntraOpNumThreads           = 24
	iSetInterOpNumThreads           = 25
	iSessionGetInputCount           = 30
	iSessionGetOutputCount          = 31
	iSessionGetInputName            = 36
	iSessionGetOutputName           = 37
	iCreateTensorWithDataAsOrtValue = 49
	iGetTensorMutableData           = 51
	iGetTensorElementType           = 60
	iGetDimensionsCount             = 61
	iGetDimensions                  = 62
	iGetTensorTypeAndShape          = 65
	iCreateCpuMemoryInfo            = 69
	iAllocatorFree                  = 76
	iGetAllocatorWithDefaultOptions = 78
	iReleaseEnv                     = 92
	iReleaseStatus                  = 93
	iReleaseSession                 = 95
	iReleaseValue                   = 96
	iReleaseTensorTypeAndShapeInfo  = 99
	iReleaseSessionOptions          = 100
	iAddSessionConfigEntry          = 130
)

// Constants of the C API.
const (
	loggingLevelError    = 3  // ORT_LOGGING_LEVEL_ERROR: warnings are not for pixpool's users
	graphOptimizationAll = 99 // ORT_ENABLE_ALL
	elementFloat         = 1  // ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
	deviceAllocator      = 0  // OrtDeviceAllocator
	memTypeDefault       = 0  // OrtMemTypeDefault
)

// api holds the C functions, typed for purego. Every one returning uintptr
// returns an OrtStatus*, nil on success.
type api struct {
	getErrorMessage        func(status uintptr) string
	createEnv              func(level int32, logID string, env *uintptr) uintptr
	createSession          func(env uintptr, path string, opts uintptr, session *uintptr) uintptr
	createSessionFromArray func(env uintptr, data unsafe.Pointer, n uintptr, opts uintptr, session *uintptr) uintptr
	run                    func(session, runOpts uintptr, inNames, inputs unsafe.Pointer, nIn uintptr, outNames unsafe.Pointer, nOut uintptr, outputs unsafe.Pointer) uintptr
	createSessionOptions   func(opts *uintptr) uintptr
	disableCPUMemArena     func(opts uintptr) uintptr
	setGraphOptimization   func(opts uintptr, level int32) uintptr
	setIntraOpNumThreads   func(opts uintptr, n int32) uintptr
	setInterOpNumThreads   func(opts uintptr, n int32) uintptr
	sessionGetInputCount   func(session uintptr, n *uintptr) uintptr
	sessionGetOutputCount  func(session uintptr, n *uintptr) uintptr
	sessionGetInputName    func(session, i, allocator uintptr, name *unsafe.Pointer) uintptr
	sessionGetOutputName   func(session, i, allocator uintptr, name *unsafe.Pointer) uintptr
	createTensor           func(info uintptr, data unsafe.Pointer, n uintptr, shape unsafe.Pointer, dims uintptr, typ int32, value *uintptr) uintptr
	getTensorMutableData   func(value uintptr, data *unsafe.Pointer) uintptr
	getTensorElementType   func(info uintptr, typ *int32) uintptr
	getDimensionsCount     func(info uintptr, n *uintptr) uintptr
	getDimensions          func(info uintptr, dims unsafe.Pointer, n uintptr) uintptr
	getTensorTypeAndShape  func(value uintptr, info *uintptr) uintptr
	createCPUMemoryInfo    func(alloc, mem int32, info *uintptr) uintptr
	allocatorFree          func(allocator uintptr, p unsafe.Pointer) uintptr
	getDefaultAllocator    func(allocator *uintptr) uintptr
	releaseEnv             func(env uintptr)
	releaseStatus          func(status uintptr)
	releaseSession         func(session uintptr)
	releaseValue           func(value uintptr)
	releaseTypeAndShape    func(info uintptr)
	releaseSessionOptions  func(opts uintptr)
	addSessionConfigEntry  func(opts uintptr, key, value string) uintptr
}

// Runtime is a loaded ONNX Runtime: its functions, one environment and the
// CPU memory description tensors are made with. There is one per process.
type Runtime struct {
	api
	version   string
	env       uintptr
	mem       uintptr
	allocator uintptr
}

var (
	loadMu     sync.Mutex
	loaded     *Runtime
	loadedPath string
)

// Load loads the ONNX Runtime library at path, once per process: the
// library keeps process-wide state. Later calls return the same Runtime
// when path is the same file (through links too) or a copy of it, as when
// the labels' and the text's models are in two folders the setup script
// filled; another library is an error.
func Load(path string) (*Runtime, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded != nil {
		if path != loadedPath && !sameContent(path, loadedPath) {
			return nil, fmt.Errorf("onnx: %s: another ONNX Runtime is already loaded, from %s", path, loadedPath)
		}
		return loaded, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("onnx: ONNX Runtime library: %w", err)
	}
	if err := checkELF(path); err != nil {
		return nil, fmt.Errorf("onnx: loading %s: %w", path, err)
	}
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("onnx: loading %s: %w", path, err)
	}
	tuneMalloc()
	sym, err := purego.Dlsym(lib, "OrtGetApiBase")
	if err != nil {
		return nil, fmt.Errorf("onnx: %s is not ONNX Runtime: %w", path, err)
	}
	// OrtApiBase is {GetApi(uint32) *OrtApi, GetVersionString() *char}.
	var getAPIBase func() *[2]uintptr
	purego.RegisterFunc(&getAPIBase, sym)
	base := getAPIBase()
	if base == nil || base[0] == 0 || base[1] == 0 {
		return nil, fmt.Errorf("onnx: %s is not ONNX Runtime: OrtGetApiBase gives no functions", path)
	}
	var getAPI func(version uint32) unsafe.Pointer
	var getVersion func() string
	purego.RegisterFunc(&getAPI, base[0])
	purego.RegisterFunc(&getVersion, base[1])
	rt := &Runtime{version: getVersion()}
	table := getAPI(version)
	if table == nil {
		return nil, fmt.Errorf("onnx: %s is ONNX Runtime %s, older than 1.%d, the oldest pixpool works with", path, rt.version, version)
	}
	if err := rt.bind(table); err != nil {
		return nil, fmt.Errorf("onnx: %s (ONNX Runtime %s): %w", path, rt.version, err)
	}
	if err := rt.status(rt.createEnv(loggingLevelError, "pixpool", &rt.env)); err != nil {
		return nil, err
	}
	if err := rt.status(rt.createCPUMemoryInfo(deviceAllocator, memTypeDefault, &rt.mem)); err != nil {
		return nil, err
	}
	if err := rt.status(rt.getDefaultAllocator(&rt.allocator)); err != nil {
		return nil, err
	}
	loaded, loadedPath = rt, path
	return rt, nil
}

// checkELF refuses an ELF library whose loadable segments run past the
// end of the file, as after an interrupted download or copy: the dynamic
// loader maps them whole, and the process dies of SIGBUS on touching the
// missing part, long before dlopen could return an error. A file that is
// not ELF is left to dlopen, which refuses it cleanly.
func checkELF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("damaged or incomplete library (%w)", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD && p.Filesz > 0 && (p.Off > uint64(st.Size()) || p.Filesz > uint64(st.Size())-p.Off) {
			return fmt.Errorf("incomplete library: %d bytes, cut short of its %d", st.Size(), p.Off+p.Filesz)
		}
	}
	return nil
}

// sameContent reports whether files a and b hold the same bytes.
func sameContent(a, b string) bool {
	sum := func(path string) []byte {
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil
		}
		return h.Sum(nil)
	}
	sa := sum(a)
	return sa != nil && bytes.Equal(sa, sum(b))
}

// bind fills the api from the OrtApi table at table. A function missing
// from it (a null entry) is an error rather than purego's panic.
func (rt *Runtime) bind(table unsafe.Pointer) error {
	fns := unsafe.Slice((*uintptr)(table), iAddSessionConfigEntry+1)
	for _, f := range []struct {
		ptr any
		i   int
	}{
		{&rt.getErrorMessage, iGetErrorMessage},
		{&rt.createEnv, iCreateEnv},
		{&rt.createSession, iCreateSession},
		{&rt.createSessionFromArray, iCreateSessionFromArray},
		{&rt.run, iRun},
		{&rt.createSessionOptions, iCreateSessionOptions},
		{&rt.disableCPUMemArena, iDisableCpuMemArena},
		{&rt.setGraphOptimization, iSetSessionGraphOptimization},
		{&rt.setIntraOpNumThreads, iSetIntraOpNumThreads},
		{&rt.setInterOpNumThreads, iSetInterOpNumThreads},
		{&rt.sessionGetInputCount, iSessionGetInputCount},
		{&rt.sessionGetOutputCount, iSessionGetOutputCount},
		{&rt.sessionGetInputName, iSessionGetInputName},
		{&rt.sessionGetOutputName, iSessionGetOutputName},
		{&rt.createTensor, iCreateTensorWithDataAsOrtValue},
		{&rt.getTensorMutableData, iGetTensorMutableData},
		{&rt.getTensorElementType, iGetTensorElementType},
		{&rt.getDimensionsCount, iGetDimensionsCount},
		{&rt.getDimensions, iGetDimensions},
		{&rt.getTensorTypeAndShape, iGetTensorTypeAndShape},
		{&rt.createCPUMemoryInfo, iCreateCpuMemoryInfo},
		{&rt.allocatorFree, iAllocatorFree},
		{&rt.getDefaultAllocator, iGetAllocatorWithDefaultOptions},
		{&rt.releaseEnv, iReleaseEnv},
		{&rt.releaseStatus, iReleaseStatus},
		{&rt.releaseSession, iReleaseSession},
		{&rt.releaseValue, iReleaseValue},
		{&rt.releaseTypeAndShape, iReleaseTensorTypeAndShapeInfo},
		{&rt.releaseSessionOptions, iReleaseSessionOptions},
		{&rt.addSessionConfigEntry, iAddSessionConfigEntry},
	} {
		if fns[f.i] == 0 {
			return fmt.Errorf("function %d of the C API is missing", f.i)
		}
		purego.RegisterFunc(f.ptr, fns[f.i])
	}
	return nil
}

// Version is the library's version, such as "1.30.0".
func (rt *Runtime) Version() string { return rt.version }

// status turns an OrtStatus* into an error, releasing it.
func (rt *Runtime) status(s uintptr) error {
	if s == 0 {
		return nil
	}
	msg := rt.getErrorMessage(s)
	rt.releaseStatus(s)
	return errors.New("onnx: " + msg)
}

// Options tune a session.
type Options struct {
	// Threads bounds the threads one Run computes on. With 1 (or 0) it
	// computes on the calling thread only, so a caller that lowered its
	// thread's priority keeps all of the work there.
	Threads int
	// Arena keeps ONNX Runtime's memory arena, which holds on to the
	// largest intermediate tensors between runs: a little faster, but the
	// process keeps that memory. Off by default.
	Arena bool
}

// Session is a loaded model. Run may be called from several goroutines.
type Session struct {
	rt       *Runtime
	handle   uintptr
	inNames  []unsafe.Pointer // C strings from ONNX Runtime's allocator
	outNames []unsafe.Pointer
	mu       sync.RWMutex // Close waits for runs in flight
}

// NewSession loads a model from its bytes (an ONNX ModelProto).
func (rt *Runtime) NewSession(model []byte, opt Options) (*Session, error) {
	if len(model) == 0 {
		return nil, errors.New("onnx: empty model")
	}
	return rt.newSession(opt, func(opts uintptr, h *uintptr) uintptr {
		return rt.createSessionFromArray(rt.env, unsafe.Pointer(&model[0]), uintptr(len(model)), opts, h)
	})
}

// NewSessionFile loads a model from a file.
func (rt *Runtime) NewSessionFile(path string, opt Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("onnx: model: %w", err)
	}
	s, err := rt.newSession(opt, func(opts uintptr, h *uintptr) uintptr {
		return rt.createSession(rt.env, path, opts, h)
	})
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return s, nil
}

func (rt *Runtime) newSession(opt Options, create func(opts uintptr, h *uintptr) uintptr) (*Session, error) {
	var opts uintptr
	if err := rt.status(rt.createSessionOptions(&opts)); err != nil {
		return nil, err
	}
	defer rt.releaseSessionOptions(opts)
	threads := max(opt.Threads, 1)
	for _, s := range []uintptr{
		rt.setIntraOpNumThreads(opts, int32(threads)),
		rt.setInterOpNumThreads(opts, 1),
		rt.setGraphOptimization(opts, graphOptimizationAll),
		// Idle pool threads must not spin: serving needs the cores.
		rt.addSessionConfigEntry(opts, "session.intra_op.allow_spinning", "0"),
	} {
		if err := rt.status(s); err != nil {
			return nil, err
		}
	}
	if !opt.Arena {
		if err := rt.status(rt.disableCPUMemArena(opts)); err != nil {
			return nil, err
		}
	}
	s := &Session{rt: rt}
	if err := rt.status(create(opts, &s.handle)); err != nil {
		return nil, err
	}
	var err error
	if s.inNames, err = s.names(rt.sessionGetInputCount, rt.sessionGetInputName); err == nil {
		s.outNames, err = s.names(rt.sessionGetOutputCount, rt.sessionGetOutputName)
	}
	if err == nil && (len(s.inNames) == 0 || len(s.outNames) == 0) {
		err = errors.New("onnx: the model has no inputs or no outputs")
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Session) names(count func(uintptr, *uintptr) uintptr, name func(uintptr, uintptr, uintptr, *unsafe.Pointer) uintptr) ([]unsafe.Pointer, error) {
	var n uintptr
	if err := s.rt.status(count(s.handle, &n)); err != nil {
		return nil, err
	}
	names := make([]unsafe.Pointer, n)
	for i := range names {
		if err := s.rt.status(name(s.handle, uintptr(i), s.rt.allocator, &names[i])); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// InputNames are the model's inputs, in the order Run takes them.
func (s *Session) InputNames() []string { return goStrings(s.inNames) }

// OutputNames are the model's outputs, in the order Run returns them.
func (s *Session) OutputNames() []string { return goStrings(s.outNames) }

func goStrings(cs []unsafe.Pointer) []string {
	out := make([]string, len(cs))
	for i, p := range cs {
		n := 0
		for *(*byte)(unsafe.Add(p, n)) != 0 {
			n++
		}
		out[i] = string(unsafe.Slice((*byte)(p), n))
	}
	return out
}

// Close releases the model, after any runs in flight. It is safe to call
// twice.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range append(s.inNames, s.outNames...) {
		s.rt.allocatorFree(s.rt.allocator, c)
	}
	s.inNames, s.outNames = nil, nil
	if s.handle != 0 {
		s.rt.releaseSession(s.handle)
		s.handle = 0
	}
}

// Tensor is a float32 tensor: Data holds the elements in row-major order
// of Shape.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// elements is the number of elements Shape describes, or -1 if a dimension
// is negative.
func elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		n *= d
	}
	return n
}

// Run computes the model on inputs, one per InputNames in that order, and
// returns every output, in OutputNames' order, in memory of its own.
func (s *Session) Run(inputs []Tensor) ([]Tensor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.handle == 0 {
		return nil, errors.New("onnx: session is closed")
	}
	if len(inputs) != len(s.inNames) {
		return nil, fmt.Errorf("onnx: model takes %d inputs, got %d", len(s.inNames), len(inputs))
	}
	rt := s.rt
	// ONNX Runtime reads the inputs in place: pin them for the call.
	var pin runtime.Pinner
	defer pin.Unpin()
	values := make([]uintptr, len(inputs))
	defer func() {
		for _, v := range values {
			if v != 0 {
				rt.releaseValue(v)
			}
		}
	}()
	for i, in := range inputs {
		if n := elements(in.Shape); n != int64(len(in.Data)) || n == 0 {
			return nil, fmt.Errorf("onnx: input %d: shape %v needs %d elements, got %d", i, in.Shape, max(n, 0), len(in.Data))
		}
		pin.Pin(&in.Data[0])
		var shape unsafe.Pointer
		if len(in.Shape) > 0 {
			pin.Pin(&in.Shape[0])
			shape = unsafe.Pointer(&in.Shape[0])
		}
		err := rt.status(rt.createTensor(rt.mem, unsafe.Pointer(&in.Data[0]), uintptr(4*len(in.Data)),
			shape, uintptr(len(in.Shape)), elementFloat, &values[i]))
		if err != nil {
			return nil, fmt.Errorf("onnx: input %d: %w", i, err)
		}
	}
	outputs := make([]uintptr, len(s.outNames))
	pin.Pin(&values[0])
	pin.Pin(&outputs[0])
	pin.Pin(&s.inNames[0])
	pin.Pin(&s.outNames[0])
	err := rt.status(rt.run(s.handle, 0, unsafe.Pointer(&s.inNames[0]), unsafe.Pointer(&values[0]), uintptr(len(values)),
		unsafe.Pointer(&s.outNames[0]), uintptr(len(outputs)), unsafe.Pointer(&outputs[0])))
	defer func() {
		for _, v := range outputs {
			if v != 0 {
				rt.releaseValue(v)
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	out := make([]Tensor, len(outputs))
	for i, v := range outputs {
		if out[i], err = rt.tensor(v); err != nil {
			return nil, fmt.Errorf("onnx: output %d: %w", i, err)
		}
	}
	return out, nil
}

// tensor copies an output value into Go memory.
func (rt *Runtime) tensor(v uintptr) (Tensor, error) {
	var info uintptr
	if err := rt.status(rt.getTensorTypeAndShape(v, &info)); err != nil {
		return Tensor{}, err
	}
	defer rt.releaseTypeAndShape(info)
	var typ int32
	if err := rt.status(rt.getTensorElementType(info, &typ)); err != nil {
		return Tensor{}, err
	}
	if typ != elementFloat {
		return Tensor{}, fmt.Errorf("element type %d, only float32 is supported", typ)
	}
	var dims uintptr
	if err := rt.status(rt.getDimensionsCount(info, &dims)); err != nil {
		return Tensor{}, err
	}
	t := Tensor{Shape: make([]int64, dims)}
	if dims > 0 {
		if err := rt.status(rt.getDimensions(info, unsafe.Pointer(&t.Shape[0]), dims)); err != nil {
			return Tensor{}, err
		}
	}
	n := elements(t.Shape)
	if n < 0 {
		return Tensor{}, fmt.Errorf("shape %v", t.Shape)
	}
	t.Data = make([]float32, n)
	if n == 0 {
		return t, nil
	}
	var data unsafe.Pointer
	if err := rt.status(rt.getTensorMutableData(v, &data)); err != nil {
		return Tensor{}, err
	}
	copy(t.Data, unsafe.Slice((*float32)(data), n))
	return t, nil
}
