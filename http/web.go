package http

import (
	"bytes"
	"cmp"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// The web UI: server-rendered pages, one html/template file each, all
// cloned from templates/layout.html. Pages take image keys in the query
// string, and html/template escapes them wherever they land in a URL.

// pageCSP allows only our own scripts, styles and images (and data: images
// for the favicon), so that no inline script or style ever runs.
const pageCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"

// galleryPageSize is how many thumbnails one gallery page shows.
const galleryPageSize = 48

// recentCount is how many of the newest images the dashboard shows.
const recentCount = 8

// notices are the fixed texts that ?msg= may ask a page to show, so that a
// link can never make a page say anything else.
var notices = map[string]string{
	"saved":      "Profile saved.",
	"password":   "Password changed; your other sessions were logged out.",
	"deleted":    "Image deleted.",
	"keyrevoked": "API key revoked.",
}

// data is what every page template gets. The fields below the first group
// are used by some pages only.
type data struct {
	Title  string
	Nav    string        // which nav entry is the current page
	User   *pixpool.User // nil when logged out
	CSRF   string        // the session's token for state-changing forms
	Error  string
	Notice string
	// ErrorFor names the form an error belongs to on pages with several.
	ErrorFor string
	// Searchable: analysis is on, so the nav and gallery offer search.
	Searchable bool

	Form     userForm // sign-up and profile fields
	Next     string   // where to go after logging in
	Token    string   // the one-time setup token
	Key      string
	Image    *pixpool.Image
	Thumbs   []thumb
	Count    int
	Prefix   string // gallery filter
	After    string // gallery cursor of this page
	NextPage string // gallery cursor of the next page; "" on the last
	MaxBytes int64
	MaxSize  string // MaxBytes for people
	APIKeys  []*pixpool.APIKey
	Secret   string          // a new API key's secret, shown once
	NewKey   *pixpool.APIKey // the key Secret belongs to
	Status   int
	Login    bool // offer the login link on an error page
	// Page carries anything else a page needs.
	Page any
}

// userForm holds the profile fields as typed, to re-fill a form.
type userForm struct {
	Username, FirstName, LastName, Email, Birthday, Phone string
}

func formFromUser(u *pixpool.User) userForm {
	f := userForm{Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email, Phone: u.Phone}
	if !u.Birthday.IsZero() {
		f.Birthday = u.Birthday.Format(time.DateOnly)
	}
	return f
}

// readUserForm reads the profile fields of a posted form into f and u.
func readUserForm(r *http.Request, u *pixpool.User) (userForm, error) {
	f := userForm{
		Username:  strings.TrimSpace(r.PostFormValue("username")),
		FirstName: strings.TrimSpace(r.PostFormValue("first_name")),
		LastName:  strings.TrimSpace(r.PostFormValue("last_name")),
		Email:     strings.TrimSpace(r.PostFormValue("email")),
		Birthday:  strings.TrimSpace(r.PostFormValue("birthday")),
		Phone:     strings.TrimSpace(r.PostFormValue("phone")),
	}
	u.Username, u.FirstName, u.LastName, u.Email, u.Phone = f.Username, f.FirstName, f.LastName, f.Email, f.Phone
	var err error
	u.Birthday, err = pixpool.ParseBirthday(f.Birthday)
	return f, err
}

// thumb is one gallery tile; Width and Height give the thumbnail's shape
// before it loads, so the grid does not jump.
type thumb struct {
	Key           string
	Width, Height int
}

var funcs = template.FuncMap{
	"bytes":    service.FormatBytes,
	"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"sub":      func(a, b int) int { return a - b },
	// fontsize scales box captions with the image, since the SVG's
	// coordinates are the image's pixels.
	"fontsize": func(width int) int { return max(12, width/40) },
	// maxQuery is the longest search, for the search boxes' maxlength.
	"maxQuery": func() int { return pixpool.MaxSearchQueryBytes },
}

// parsePages parses every page once: layout.html, cloned for each other
// file in templates/, which fills in its "content" block.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template)
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, name))
	}
	return pages
}

// page starts a page's data with who is logged in and any notice.
func (s *Server) page(r *http.Request, title, nav string) *data {
	d := &data{Title: title, Nav: nav, Notice: notices[r.URL.Query().Get("msg")]}
	if a := authFrom(r.Context()); a.session != nil {
		d.User, d.CSRF = a.user, a.session.CSRFToken
		d.Searchable = s.Analyzer != nil
	}
	return d
}

func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store") // pages hold CSRF tokens and private data
}

// render writes a page. It renders into a buffer first, so a template
// failure becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d *data) {
	var buf bytes.Buffer
	t, ok := s.pages[name]
	if !ok {
		s.logger().Error("render: no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout.html", d); err != nil {
		s.logger().Error("render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	setRetryAfter(w.Header(), status)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers a failed page request: an HTML page with the status
// of err and its safe message, or the JSON error to a script.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	err = interrupted(r, err)
	if wantsJSON(r) {
		s.Error(w, r, err)
		return
	}
	s.logError(r, err)
	status := ErrorStatus(err)
	d := s.page(r, http.StatusText(status), "")
	d.Status, d.Error = status, pixpool.ErrorMessage(err)
	if pixpool.ErrorCode(err) == pixpool.EUNAUTHORIZED {
		d.Login = true
		if r.Method == http.MethodGet {
			d.Next = r.URL.RequestURI()
		}
	}
	s.render(w, r, status, "error.html", d)
}

// wantsJSON reports whether a page request came from our script, which
// wants JSON answers rather than HTML.
func wantsJSON(r *http.Request) bool {
	return r.Header.Get("X-Requested-With") == "XMLHttpRequest" ||
		strings.Contains(r.Header.Get("Accept"), "application/json")
}

// redirect answers a POST with 303, so reloading does not post again.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// imageURL is the image page of key.
func imageURL(key string) string {
	return "/image?" + url.Values{"key": {key}}.Encode()
}

// localPath returns next if it is a path on this site, else "/". It
// judges the path a browser would follow: http.Redirect cleans the path
// (so "/./\host" would become "/\host"), and browsers read "//host" and
// "/\host" as other sites and drop tabs and newlines. So it refuses
// backslashes and control characters anywhere, also once more
// percent-decoded, any scheme or host, and "//" anywhere in the path; it
// returns the cleaned path with its query.
func localPath(next string) string {
	const home = "/"
	if !strings.HasPrefix(next, "/") || len(next) > 2048 || unsafeInPath(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	// u.Path is decoded once; decode again to catch "%255C" and the like.
	twice, err := url.PathUnescape(u.Path)
	if err != nil || unsafeInPath(u.Path) || unsafeInPath(twice) {
		return home
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, "/") || strings.Contains(u.Path, "//") || strings.Contains(twice, "//") {
		return home
	}
	out := &url.URL{Path: clean, RawQuery: u.RawQuery}
	return out.String()
}

// unsafeInPath reports whether s holds a backslash or a control
// character, which browsers treat as a slash or drop.
func unsafeInPath(s string) bool {
	return strings.ContainsRune(s, '\\') || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// readForm reads the small urlencoded form of a route that requireUser
// does not guard (it bounds the others), at most 64 KiB. A body that is
// cut off or stalls (limitIdleBodies) is EINVALID, not a form of empty
// fields: its request's context is cancelled by then, and whatever the
// handler did next would fail as an internal error.
func readForm(w http.ResponseWriter, r *http.Request) error {
	const limit = 64 << 10
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseForm()
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return tooLarge(w, limit)
	case r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(net.Error)):
		return errInterrupted
	}
	return pixpool.Errorf(pixpool.EINVALID, "The form is malformed.")
}

// keyNotFound rewords a missing image as one message, the same whether
// the key is free or another user's.
func keyNotFound(err error, key string) error {
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return pixpool.Errorf(pixpool.ENOTFOUND, "No image with key “%s”.", key)
	}
	return err
}

func (s *Server) thumbSide() int {
	if s.Images.ThumbSide > 0 {
		return s.Images.ThumbSide
	}
	return 320
}

// thumbs sizes gallery tiles like the thumbnails: the image scaled down to
// fit a square of the thumbnail side.
func (s *Server) thumbs(imgs []*pixpool.Image) []thumb {
	side := s.thumbSide()
	out := make([]thumb, 0, len(imgs))
	for _, img := range imgs {
		w, h := max(img.Width, 1), max(img.Height, 1)
		if w > side || h > side {
			if w >= h {
				w, h = side, max(1, h*side/w)
			} else {
				w, h = max(1, w*side/h), side
			}
		}
		out = append(out, thumb{Key: img.Key, Width: w, Height: h})
	}
	return out
}

// handleHome shows what pixpool is, or a logged-in user's dashboard.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	d := s.page(r, "pixpool", "home")
	if d.User == nil {
		s.render(w, r, http.StatusOK, "home.html", d)
		return
	}
	var err error
	if d.Count, err = s.Images.Count(r.Context(), d.User.ID); err != nil {
		s.errorPage(w, r, err)
		return
	}
	imgs, err := s.Images.Newest(r.Context(), d.User.ID, recentCount)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.Thumbs = s.thumbs(imgs)
	s.render(w, r, http.StatusOK, "home.html", d)
}

// signupView is what the sign-up page needs besides the form.
type signupView struct {
	Mode   string // pixpool.SignupOpen, SignupInvite or SignupClosed
	Invite string // the invite code as given
}

// signupPage starts the sign-up page, with the mode in force.
func (s *Server) signupPage(r *http.Request, invite string) (*data, error) {
	d := s.page(r, "Sign up", "signup")
	mode, err := s.Accounts.SignupMode(r.Context())
	d.Page = &signupView{Mode: mode, Invite: invite}
	return d, err
}

// handleSignupForm shows the sign-up form; an invite link fills in the
// code (?invite=).
func (s *Server) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	d, err := s.signupPage(r, r.URL.Query().Get("invite"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "signup.html", d)
}

// handleSignup creates an account, as the sign-up mode allows, and logs
// it in with the session SignUp starts: the password is hashed once.
func (s *Server) handleSignup(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	invite := strings.TrimSpace(r.PostFormValue("invite"))
	d, err := s.signupPage(r, invite)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	u := &pixpool.User{}
	f, err := readUserForm(r, u)
	d.Form = f
	pw := r.PostFormValue("password")
	if err == nil && pw != r.PostFormValue("password_confirm") {
		err = pixpool.Errorf(pixpool.EINVALID, "The two passwords do not match.")
	}
	var sess *pixpool.Session
	var token string
	if err == nil {
		sess, token, err = s.Accounts.SignUp(r.Context(), service.Signup{User: u, Password: pw, Invite: invite, ClientIP: s.clientIP(r)})
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "signup.html", d)
		return
	}
	s.setSessionCookie(w, r, token, sess.ExpiresAt)
	redirect(w, r, "/")
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if authFrom(r.Context()).session != nil {
		redirect(w, r, next)
		return
	}
	d := s.page(r, "Log in", "login")
	d.Next = next
	s.render(w, r, http.StatusOK, "login.html", d)
}

// handleLogin starts a session and goes on to the page asked for, if it
// is one of ours.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	next := localPath(r.PostFormValue("next"))
	req := service.LoginRequest{Username: username, Password: r.PostFormValue("password"), ClientIP: s.clientIP(r)}
	if c, err := r.Cookie(DeviceCookie); err == nil {
		req.Device = c.Value
	}
	res, err := s.Accounts.LoginDevice(r.Context(), req)
	if err != nil {
		s.logError(r, err)
		d := s.page(r, "Log in", "login")
		d.Form.Username, d.Next, d.Error = username, next, pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "login.html", d)
		return
	}
	s.setSessionCookie(w, r, res.Token, res.Session.ExpiresAt)
	if res.Device != "" {
		s.setDeviceCookie(w, r, res.Device, res.DeviceExpires)
	}
	redirect(w, r, next)
}

// handleLogout ends the session. It is not behind requireUser, so that
// an expired session can still "log out", but a live one needs its token.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	if a.session != nil {
		if !s.validCSRF(r, a.session) {
			s.errorPage(w, r, pixpool.Errorf(pixpool.EFORBIDDEN, "The form has expired. Go back, reload the page and try again."))
			return
		}
		if err := s.Accounts.Logout(r.Context(), a.token); err != nil {
			s.errorPage(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	redirect(w, r, "/")
}

// setupUsed is the answer to a setup link that cannot be used.
var setupUsed = pixpool.Errorf(pixpool.ENOTFOUND, "This setup link has been used or has expired.")

func (s *Server) handleSetupForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	pending, err := s.Accounts.SetupPending(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if token == "" || !pending {
		s.errorPage(w, r, setupUsed)
		return
	}
	d := s.page(r, "Set up pixpool", "")
	d.Token = token
	s.render(w, r, http.StatusOK, "setup.html", d)
}

// handleSetup creates the admin account with the one-time setup token.
func (s *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	token, pw := r.PostFormValue("token"), r.PostFormValue("password")
	if pw != r.PostFormValue("password_confirm") {
		d := s.page(r, "Set up pixpool", "")
		d.Token, d.Error = token, "The two passwords do not match."
		s.render(w, r, http.StatusBadRequest, "setup.html", d)
		return
	}
	_, sess, tok, err := s.Accounts.SetupAdmin(r.Context(), token, pw, s.clientIP(r))
	if c := pixpool.ErrorCode(err); c == pixpool.EINVALID || c == pixpool.ECONFLICT || c == pixpool.ETOOMANY {
		s.logError(r, err)
		d := s.page(r, "Set up pixpool", "")
		d.Token, d.Error = token, pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "setup.html", d)
		return
	} else if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.setSessionCookie(w, r, tok, sess.ExpiresAt)
	redirect(w, r, "/")
}

func (s *Server) uploadPage(r *http.Request, key string) *data {
	d := s.page(r, "Upload", "upload")
	d.Key, d.MaxBytes = key, s.Images.MaxBytesLimit()
	d.MaxSize = service.FormatBytes(d.MaxBytes)
	return d
}

func (s *Server) handleUploadForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "upload.html", s.uploadPage(r, r.URL.Query().Get("key")))
}

// handleUpload stores a multipart upload and shows the image; it answers
// JSON to the page's script, which shows upload progress.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	f, err := readUploadForm(w, r, s.Images.MaxBytesLimit())
	if err == nil {
		_, err = s.Images.Put(r.Context(), u.ID, f.Key, f.Data)
	}
	switch {
	case err != nil && wantsJSON(r):
		s.Error(w, r, err)
	case err != nil:
		s.logError(r, err)
		d := s.uploadPage(r, "")
		if f != nil {
			d.Key = f.Key
		}
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "upload.html", d)
	case wantsJSON(r):
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": imageURL(f.Key)})
	default:
		redirect(w, r, imageURL(f.Key))
	}
}

// handleGetForm looks an image up by key and shows it.
func (s *Server) handleGetForm(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := s.page(r, "Get by key", "get")
	d.Key = r.URL.Query().Get("key")
	if d.Key == "" {
		s.render(w, r, http.StatusOK, "get.html", d)
		return
	}
	img, err := s.Images.Info(r.Context(), u.ID, d.Key)
	if err != nil {
		err = keyNotFound(err, d.Key)
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "get.html", d)
		return
	}
	d.Image = img
	s.render(w, r, http.StatusOK, "get.html", d)
}

// handleGallery shows a page of the user's thumbnails, in key order from
// the ?after= cursor, optionally only keys starting with ?prefix=.
func (s *Server) handleGallery(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := s.page(r, "My images", "images")
	q := r.URL.Query()
	d.Prefix, d.After = q.Get("prefix"), q.Get("after")
	imgs, err := s.Images.List(r.Context(), u.ID, d.Prefix, d.After, galleryPageSize+1)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if len(imgs) > galleryPageSize {
		imgs = imgs[:galleryPageSize]
		d.NextPage = imgs[galleryPageSize-1].Key
	}
	d.Thumbs = s.thumbs(imgs)
	s.render(w, r, http.StatusOK, "gallery.html", d)
}

func (s *Server) handleImagePage(w http.ResponseWriter, r *http.Request) {
	s.imagePage(w, r, r.URL.Query().Get("key"), http.StatusOK, "")
}

// imagePage renders one image's page, with an error from its delete form.
func (s *Server) imagePage(w http.ResponseWriter, r *http.Request, key string, status int, msg string) {
	u := authFrom(r.Context()).user
	img, err := s.Images.Info(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	d := s.page(r, key, "")
	d.Key, d.Image, d.Error = key, img, msg
	if s.Analyzer != nil {
		view := &analysisView{Missing: s.Analyzer.Installed(), Key: key, CSRF: d.CSRF}
		if _, an, err := s.Analyzer.Result(r.Context(), u.ID, key); err == nil {
			view.Analysis = an
		}
		d.Page = view
	}
	s.render(w, r, status, "image.html", d)
}

// analysisView is the recognition panel of an image page.
type analysisView struct {
	Analysis *pixpool.Analysis // nil: never queued
	Missing  string            // what recognition lacks on this server
	Key      string
	CSRF     string // for the re-analyse form
}

// handleReanalyze queues an image for analysis again.
func (s *Server) handleReanalyze(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.PostFormValue("key")
	if s.Analyzer == nil {
		s.errorPage(w, r, errNoAnalyzer)
		return
	}
	if err := s.Analyzer.Reanalyze(r.Context(), u.ID, key); err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	http.Redirect(w, r, "/image?"+url.Values{"key": {key}}.Encode(), http.StatusSeeOther)
}

// handleRaw sends an image's bytes; with ?download=1 as an attachment.
func (s *Server) handleRaw(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.URL.Query().Get("key")
	img, data, err := s.Images.Get(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment",
			map[string]string{"filename": downloadName(key, img.ContentType)}))
	}
	serveImage(w, r, img, data, img.ContentType)
}

// downloadName makes a file name out of a key: its last path segment,
// with only letters, digits and a few safe marks, ending in the
// extension of the image's type.
func downloadName(key, contentType string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	name = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._- ", r) {
			return r
		}
		return '_'
	}, name)
	if runes := []rune(name); len(runes) > 100 {
		name = string(runes[:100])
	}
	name = cmp.Or(strings.Trim(name, ". "), "image")
	ext := map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp"}[contentType]
	lower := strings.ToLower(name)
	if ext != "" && !strings.HasSuffix(lower, ext) && !(ext == ".jpg" && strings.HasSuffix(lower, ".jpeg")) {
		name += ext
	}
	return name
}

// handleThumb sends an image's gallery thumbnail.
func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.URL.Query().Get("key")
	img, data, err := s.Images.Thumbnail(r.Context(), u.ID, key)
	if err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	thumb := *img
	thumb.Checksum += "-thumb" // its own ETag
	serveImage(w, r, &thumb, data, "image/jpeg")
}

// handleImageDelete deletes an image once the box saying so is ticked.
func (s *Server) handleImageDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	key := r.PostFormValue("key")
	if r.PostFormValue("confirm") != "yes" {
		s.imagePage(w, r, key, http.StatusBadRequest, "Tick the box to confirm that the image should be deleted.")
		return
	}
	if err := s.Images.Delete(r.Context(), u.ID, key); err != nil {
		s.errorPage(w, r, keyNotFound(err, key))
		return
	}
	redirect(w, r, "/images?msg=deleted")
}

// profilePage renders the profile page; d.Form defaults to the user's
// saved fields.
func (s *Server) profilePage(w http.ResponseWriter, r *http.Request, status int, d *data) {
	keys, err := s.Store.APIKeys(r.Context(), d.User.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.APIKeys = keys
	if d.Form == (userForm{}) {
		d.Form = formFromUser(d.User)
	}
	s.render(w, r, status, "profile.html", d)
}

// profileError re-renders the profile page with err above the form named.
func (s *Server) profileError(w http.ResponseWriter, r *http.Request, d *data, form string, err error) {
	s.logError(r, err)
	d.Error, d.ErrorFor = pixpool.ErrorMessage(err), form
	s.profilePage(w, r, ErrorStatus(err), d)
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	s.profilePage(w, r, http.StatusOK, s.page(r, "Profile", "profile"))
}

// handleProfileSave saves the profile fields, username included.
func (s *Server) handleProfileSave(w http.ResponseWriter, r *http.Request) {
	d := s.page(r, "Profile", "profile")
	u := *d.User
	f, err := readUserForm(r, &u)
	d.Form = f
	if err == nil {
		err = s.Accounts.UpdateProfile(r.Context(), &u)
	}
	if err != nil {
		s.profileError(w, r, d, "profile", err)
		return
	}
	redirect(w, r, "/profile?msg=saved")
}

// handlePasswordChange sets a new password and ends the user's other
// sessions.
func (s *Server) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	d := s.page(r, "Profile", "profile")
	next := r.PostFormValue("new_password")
	var err error
	if next != r.PostFormValue("new_password_confirm") {
		err = pixpool.Errorf(pixpool.EINVALID, "The two new passwords do not match.")
	} else {
		err = s.Accounts.ChangePassword(r.Context(), a.user.ID, r.PostFormValue("current_password"), next, a.session.TokenHash)
	}
	if err != nil {
		s.profileError(w, r, d, "password", err)
		return
	}
	redirect(w, r, "/profile?msg=password")
}

// handleAPIKeyCreate makes an API key and shows its secret, this once: it
// is rendered into this response and kept nowhere.
func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	d := s.page(r, "Profile", "profile")
	k, secret, err := s.Accounts.CreateAPIKey(r.Context(), u.ID, r.PostFormValue("name"))
	if err != nil {
		s.profileError(w, r, d, "apikey", err)
		return
	}
	d.NewKey, d.Secret = k, secret
	s.profilePage(w, r, http.StatusOK, d)
}

func (s *Server) handleAPIKeyDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "API key not found.")
	} else {
		err = s.Store.DeleteAPIKey(r.Context(), u.ID, id)
	}
	if err != nil {
		s.profileError(w, r, s.page(r, "Profile", "profile"), "apikey", err)
		return
	}
	redirect(w, r, "/profile?msg=keyrevoked")
}
