; Virtual-mode extensions and protected-mode virtual interrupts (CR4.VME,
; CR4.PVI): CLI/STI on VIF, interrupt redirection through the TSS bitmap
; to the v8086 program's own vectors, STI with VIP pending (SDM vol. 3
; §20.3-20.4). Needs a Pentium or later.
%include "harness.inc"

VM_FLAG  equ 1 << 17
VIF      equ 1 << 19
VIP      equ 1 << 20
IF_FLAG  equ 1 << 9
V86_SS   equ 0x0A00
V86_SP   equ 0x0F00
TSS_VME  equ 0x3200
SEL_TVME equ 0x40

; TO_V86 label, eflags
%macro TO_V86 2
    push dword 0
    push dword 0
    push dword 0x0052                ; DS: 0x520 = scratch
    push dword 0
    push dword V86_SS
    push dword V86_SP
    push dword VM_FLAG | (%2) | 2
    push dword 0xF000
    push dword (%1 - 0xF0000)
    iretd
%endmacro

test_main:
    mov esi, s_hello
    call print

    ; A TSS with an interrupt redirection bitmap (32 bytes before the I/O
    ; map base): every vector redirected except 0x31.
    mov edi, TSS_VME
    mov ecx, 0x100 / 4
    xor eax, eax
    rep stosd
    mov dword [TSS_VME + 4], STACK0_TOP
    mov dword [TSS_VME + 8], SEL_DATA32
    mov word [TSS_VME + 0x66], 0x88
    mov byte [TSS_VME + 0x68 + 0x31 / 8], 1 << (0x31 & 7)
    SET_DESC SEL_TVME / 8, TSS_VME, 0x8F, 0x89, 0x0
    mov ax, SEL_TVME
    ltr ax
    ; v8086 vector 0x40 -> F000:v86_handler.
    mov word [0x40 * 4], v86_handler - 0xF0000
    mov word [0x40 * 4 + 2], 0xF000
    mov eax, cr4
    or eax, 1                        ; VME
    mov cr4, eax

    BEGIN_EXPECT
    TO_V86 v86_cli, IF_FLAG | VIF
    END_EXPECT 13, 0, "v8086 CLI under VME leaves IF, clears VIF (exit by INT 0x31)"
    cmp dword [frame], v86_cli_exit - 0xF0000
    CHECK "CLI did not fault; INT 0x31 (not redirected, IOPL 0) did"
    test dword [frame + 8], VIF
    setz al
    test dword [frame + 8], IF_FLAG
    setnz ah
    and al, ah
    cmp al, 1
    CHECK "VIF cleared, IF untouched"

    mov dword [scratch], 0
    BEGIN_EXPECT
    TO_V86 v86_redirect, IF_FLAG | VIF
    END_EXPECT 13, 0, "INT 0x40 redirected to the v8086 vector table"
    cmp word [scratch], 0x4040
    CHECK "the v8086 handler ran"
    mov ax, [scratch + 2]
    and ax, IF_FLAG | (3 << 12)
    cmp ax, IF_FLAG | (3 << 12)
    CHECK "the stacked FLAGS carry IF = VIF and IOPL 3"

    BEGIN_EXPECT
    TO_V86 v86_sti, IF_FLAG | VIP
    END_EXPECT 13, 0, "STI with VIP pending: #GP(0)"
    cmp dword [frame], v86_sti - 0xF0000
    CHECK "the #GP is at the STI"

    ; PVI: CPL 3, IOPL 0.
    mov eax, cr4
    or eax, 2
    mov cr4, eax
    mov dword [TSS_VME + 4], STACK0_TOP
    BEGIN_EXPECT
    push dword SEL_DATA3
    push dword STACK3_TOP
    push dword IF_FLAG | VIF | 2
    push dword SEL_CODE3
    push dword r3_cli
    iretd
    END_EXPECT 0x30, NO_FAULT, "PVI: CLI at CPL 3 does not fault"
    test dword [frame + 8], VIF
    setz al
    cmp al, 1
    CHECK "PVI: CLI cleared VIF"
    jmp finish

r3_cli:
    cli
    int 0x30

bits 16
v86_cli:
    cli
v86_cli_exit:
    int 0x31
v86_redirect:
    int 0x40
    int 0x31
v86_handler:
    mov word [0], 0x4040
    mov bp, sp
    mov ax, [ss:bp + 4]
    mov [2], ax
    int 0x31
v86_sti:
    sti
    int 0x31
bits 32

s_hello: db "pm_vme: protected mode entered", 10, 0

%include "rom_end.inc"
