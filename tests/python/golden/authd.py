import http.server, json, os, urllib.parse, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u=urllib.parse.urlparse(self.path); q=urllib.parse.parse_qs(u.query)
        sys.stderr.write('AUTHREQ %s %s headers=%s\n'%(self.command,self.path,dict(self.headers))); sys.stderr.flush()
        if q.get('secret',[''])[0]=='good':
            b=json.dumps({'ttl':3600,'identity':'alice','identity_url':'http://x/alice','authorizations':[{'permissions':['subscribe','publish'],'topic':'^auth.*','channels':['^ok$']}]}).encode()
            self.send_response(200); self.send_header('Content-Type','application/json'); self.end_headers(); self.wfile.write(b)
        elif q.get('secret',[''])[0]=='none':
            b=json.dumps({'ttl':3600,'identity':'bob','authorizations':[]}).encode()
            self.send_response(200); self.end_headers(); self.wfile.write(b)
        else:
            self.send_response(403); self.end_headers(); self.wfile.write(b'{"message":"NOT_AUTHORIZED"}')
    def log_message(self,*a): pass
# weir: port from the environment (AUTHD_PORT; 0 = a free one, announced on stdout as `AUTHD listening on 127.0.0.1:PORT`)
srv=http.server.HTTPServer(('127.0.0.1',int(os.environ.get('AUTHD_PORT','4181'))),H)
print('AUTHD listening on 127.0.0.1:%d'%srv.server_address[1],flush=True)
srv.serve_forever()
