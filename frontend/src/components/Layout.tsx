import { NavLink, Outlet } from "react-router-dom";

const LINKS = [
  { to: "/", label: "Dashboard", testId: "nav:dashboard", end: true },
  { to: "/traces", label: "Traces", testId: "nav:traces", end: false },
];

export function Layout() {
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Tunix RT</span>
        <nav className="nav" aria-label="Main">
          {LINKS.map((link) => (
            <NavLink key={link.to} to={link.to} end={link.end} data-testid={link.testId}>
              {link.label}
            </NavLink>
          ))}
        </nav>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
