import { NavLink, Outlet } from "react-router-dom";
import { AuthControl, SignInDialog } from "./SignIn";

const LINKS = [
  { to: "/", label: "Dashboard", testId: "nav:dashboard", end: true },
  { to: "/traces", label: "Traces", testId: "nav:traces", end: false },
  { to: "/generators", label: "Generators", testId: "nav:generators", end: false },
  { to: "/datasets", label: "Datasets", testId: "nav:datasets", end: false },
  { to: "/runs", label: "Runs", testId: "nav:runs", end: false },
  { to: "/tuning", label: "Tuning", testId: "nav:tuning", end: false },
  { to: "/models", label: "Models", testId: "nav:models", end: false },
  { to: "/leaderboard", label: "Leaderboard", testId: "nav:leaderboard", end: false },
  { to: "/regression", label: "Regression", testId: "nav:regression", end: false },
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
        <AuthControl />
      </header>
      <main className="content">
        <Outlet />
      </main>
      <SignInDialog />
    </div>
  );
}
