import { Link } from "react-router-dom";

export function NotFoundPage() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. Go to the <Link to="/">dashboard</Link> or
        the <Link to="/traces">traces</Link>.
      </p>
    </div>
  );
}
